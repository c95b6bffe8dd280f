"""The shared base model: one diffusion pipeline per process (SD 2.x or SDXL: the base's own class) and a
bounded LRU cache of resident LoRA adapters.

This module knows nothing of Triton: `model_templates/sd_base/1/model.py` is a thin adapter around
`BaseModelEngine`, and the benchmarks drive the engine directly to time adapter switches.

Adapters are loaded with diffusers' multi-adapter API (`load_lora_weights(..., adapter_name=...)`,
`set_adapters`, `delete_adapters`), so UNet and text-encoder LoRA layers both stay in effect and switching
users only changes which adapter is active (no weights are copied).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from avatar_contract.families import family
from avatar_contract.generation import GenArgs, family_bounds_problem
from avatar_contract.names import TOKEN_PLACEHOLDER, Env, Triton
from avatar_contract.prompts import MissingTokenError, personalize, token_phrase
from avatar_runtime.base_model import resolve_base_model as shared_resolve_base_model
from avatar_runtime.gpu import expect_gpu, gpu_unusable_reason
from avatar_runtime.rendering import finish, img2img_pipeline, load_pipeline, render
from hosting_server.deadline import (
    DeadlineExceededError,
    ResponseTooLargeError,
    encode_within_limit,
    step_callback,
)
from hosting_server.deadline import check as deadline_check
from hosting_server.settings import CacheBound, HostingSettings

LOG = logging.getLogger(__name__)

# Substrings Triton's SageMaker front end maps to HTTP 507 (sagemaker_server.cc, SageMakerMMECheckOOMError).
_OOM_MARKERS = ("out of memory", "can't allocate memory", "failed to allocate memory", "memoryerror")


class InvalidRequestError(ValueError):
    """The request itself is wrong (gen_args, prompt, adapter): the client must change it."""


class AdapterError(ValueError):
    """An adapter file or its metadata cannot be used with this base model."""


class OutOfMemoryError(RuntimeError):
    """Rendering or adapter loading ran out of (GPU) memory. The message always contains the original
    error text plus "out of memory", so Triton's SageMaker front end answers HTTP 507 and SageMaker
    unloads models to make room."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's CUDA OOM, Python's MemoryError and CPU allocator failures."""
    if isinstance(error, MemoryError):
        return True
    text = f"{type(error).__name__}: {error}".lower()
    return any(marker in text for marker in _OOM_MARKERS)


def parse_gen_args(raw: str | bytes | Mapping[str, Any] | None) -> GenArgs:
    """`gen_args` JSON → GenArgs, or InvalidRequestError naming the offending field(s)."""
    if raw is None or raw in ("", b""):
        return GenArgs()
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"gen_args is not valid JSON: {exc.msg}") from None
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("gen_args must be a JSON object")
    try:
        return GenArgs.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'gen_args'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidRequestError(f"invalid gen_args: {problems}") from None


def render_prompt(template: str, metadata: Mapping[str, Any] | None) -> str:
    """The text the pipeline renders: `<<TOK>>` personalized from the selected model's metadata exactly
    as training personalized its prompts (`avatar_contract.prompts.personalize`)."""
    if TOKEN_PLACEHOLDER not in template:
        return template
    if metadata is None:
        raise InvalidRequestError(f"the prompt uses {TOKEN_PLACEHOLDER} but no personal model was selected")
    try:
        return personalize(template, metadata)
    except MissingTokenError:
        raise AdapterError(f"{Triton.METADATA_FILE} has no 'token'") from None


def read_metadata(adapter_file: Path) -> dict[str, Any]:
    path = adapter_file.with_name(Triton.METADATA_FILE)
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterError(f"missing {path}") from None
    except (OSError, ValueError) as exc:
        raise AdapterError(f"unreadable {path}: {exc}") from None
    if not isinstance(metadata, dict):
        raise AdapterError(f"{path} must hold a JSON object")
    return metadata


@dataclass
class ResidentAdapter:
    adapter_id: str
    name: str  # the peft adapter name inside the pipeline
    fingerprint: tuple[int, int]  # size, mtime: a changed file is loaded again (tar keeps mtimes)
    nbytes: int
    metadata: dict[str, Any]  # the model's metadata.json: what <<TOK>> resolves from
    load_seconds: float
    triton_model: str | None = None  # the per-user Triton model this adapter belongs to


def resolve_base_model(spec: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """A local directory with the pipeline: `spec` itself, the verified copy of a staged
    `s3://.../base-models/<digest>/` (see avatar_runtime.base_model), or a Hugging Face id's download
    (refused when HF_HUB_OFFLINE is set, as in the image)."""
    root = Path(cache_dir or os.environ.get(Env.CACHE_DIR) or "/tmp/avatar-cache")
    return str(shared_resolve_base_model(str(spec), root))


class BaseModelEngine:
    """The base SD pipeline (loaded once) and the resident adapters. Thread-safe: one render at a time."""

    def __init__(
        self,
        base_model: str | os.PathLike[str],
        bound: CacheBound | None = None,
        device: str | None = None,
        dtype: str | None = None,
        settings: HostingSettings | None = None,
    ) -> None:
        """`bound`, `device` and `dtype` override `settings` (default: read from the environment)."""
        import torch
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Loading adapter B reports adapter A's weights as "missing" from B's file: noise, not a problem.
        transformers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()

        self._torch = torch
        settings = settings or HostingSettings.from_env()
        self.bound = bound or settings.cache_bound
        device = device or settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type != "cuda" and expect_gpu():  # never serve from the CPU of a GPU instance
            raise RuntimeError(
                gpu_unusable_reason(torch) or f"{Env.DEVICE}={device} on an instance with a GPU"
            )
        dtype = dtype or settings.dtype
        if dtype == "auto":
            dtype = "float16" if self.device.type == "cuda" else "float32"
        self.dtype = getattr(torch, dtype)
        source = resolve_base_model(base_model)
        started = time.perf_counter()
        # The pipeline class the base names (StableDiffusionPipeline, StableDiffusionXLPipeline), prepared
        # with the shared sampler and VAE slicing, as the training renders its previews.
        self.pipe = pipe = load_pipeline(source, str(self.device), self.dtype)
        self.base_load_seconds = time.perf_counter() - started
        # The size the base model was trained at (what diffusers renders when none is given), at least
        # GenArgs' minimum: 512 px for SD 2.1-base, 1024 px for SDXL.
        self.native_size = max(64, pipe.unet.config.sample_size * pipe.vae_scale_factor)
        self.base_model = str(base_model)
        self.family = settings.base_family  # its generation bounds (avatar_contract.families)
        self._adapters: OrderedDict[str, ResidentAdapter] = OrderedDict()
        self._lock = threading.RLock()
        self._lora_enabled = True
        self._img2img: Any = None  # the finishing passes' pipeline over self.pipe's components, on first use
        # Finds faces for face_detail (None: the project's face model, avatar_runtime.finishing).
        self.face_finder: Callable[[Any], list[Any]] | None = None
        LOG.info("base model %s on %s/%s in %.1fs", base_model, self.device, dtype, self.base_load_seconds)

    # ---- adapter cache -------------------------------------------------------------------------------

    @property
    def resident(self) -> list[str]:
        """Adapter ids, least recently used first."""
        return list(self._adapters)

    @property
    def resident_bytes(self) -> int:
        return sum(a.nbytes for a in self._adapters.values())

    def release_orphans(self, is_loaded: Callable[[str], bool]) -> list[str]:
        """Evict the adapters whose per-user Triton model is no longer loaded; returns their ids."""
        with self._lock:
            orphans = [
                a.adapter_id
                for a in self._adapters.values()
                if a.triton_model and not is_loaded(a.triton_model)
            ]
            for adapter_id in orphans:
                self.evict(adapter_id)
            return orphans

    def ensure_adapter(
        self, adapter_id: str, adapter_file: str | os.PathLike[str], triton_model: str | None = None
    ) -> ResidentAdapter:
        """Make the adapter resident (loading it on a miss, evicting LRU adapters beyond the bound) and
        mark it most recently used."""
        path = Path(adapter_file)
        try:
            stat = path.stat()
        except OSError as exc:
            raise AdapterError(f"adapter file {path} is not readable: {exc.strerror}") from None
        fingerprint = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            current = self._adapters.get(adapter_id)
            if current is not None and current.fingerprint == fingerprint:
                self._adapters.move_to_end(adapter_id)
                current.triton_model = triton_model or current.triton_model
                return current
            if current is not None:
                self.evict(adapter_id)
            metadata = read_metadata(path)
            try:
                token_phrase(metadata)  # a model whose prompts cannot be personalized is refused now
            except MissingTokenError:
                raise AdapterError(f"{Triton.METADATA_FILE} has no 'token'") from None
            self._make_room(incoming=1)
            try:
                entry = self._load(adapter_id, path, fingerprint, metadata)
            except Exception as exc:
                if not is_out_of_memory(exc) or not self._adapters:
                    raise
                LOG.warning("out of memory loading %s; evicting every idle adapter and retrying", adapter_id)
                for other in list(self._adapters):
                    self.evict(other)
                entry = self._load(adapter_id, path, fingerprint, metadata)
            entry.triton_model = triton_model
            self._adapters[adapter_id] = entry
            self._make_room(incoming=0, keep=adapter_id)
            return entry

    def evict(self, adapter_id: str) -> bool:
        with self._lock:
            entry = self._adapters.pop(adapter_id, None)
            if entry is None:
                return False
            self.pipe.delete_adapters([entry.name])
            if self.device.type == "cuda":
                self._torch.cuda.empty_cache()
            LOG.info("evicted adapter %s (%.1f MB)", adapter_id, entry.nbytes / 2**20)
            return True

    def _make_room(self, incoming: int, keep: str | None = None) -> None:
        while self._adapters and (
            len(self._adapters) + incoming > self.bound.max_adapters
            or (self.bound.max_bytes and self.resident_bytes > self.bound.max_bytes)
        ):
            oldest = next(iter(self._adapters))
            if oldest == keep:
                break
            self.evict(oldest)

    def _load(
        self, adapter_id: str, path: Path, fingerprint: tuple[int, int], metadata: dict[str, Any]
    ) -> ResidentAdapter:
        name = "a" + hashlib.sha1(adapter_id.encode()).hexdigest()[:20]  # peft names: no dots or slashes
        started = time.perf_counter()
        try:
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
        except Exception as exc:
            self._discard_partial(name)
            if is_out_of_memory(exc):
                raise
            raise AdapterError(
                f"adapter {path.name} does not fit base model {self.base_model}: {exc}"
            ) from exc
        nbytes = self._adapter_nbytes(name)
        if nbytes == 0:
            self._discard_partial(name)
            raise AdapterError(f"adapter {path.name} holds no LoRA weights for this base model")
        seconds = time.perf_counter() - started
        LOG.info("loaded adapter %s as %s: %.1f MB in %.3fs", adapter_id, name, nbytes / 2**20, seconds)
        return ResidentAdapter(adapter_id, name, fingerprint, nbytes, metadata, seconds)

    def _discard_partial(self, name: str) -> None:
        try:
            if any(name in names for names in self.pipe.get_list_adapters().values()):
                self.pipe.delete_adapters([name])
        except Exception:  # the load failed before anything was attached
            LOG.debug("nothing to discard for %s", name)

    def _adapter_nbytes(self, name: str) -> int:
        marker = f".{name}."
        total = 0
        for component in self.pipe.components.values():  # the UNet and every text encoder
            if not isinstance(component, self._torch.nn.Module):
                continue
            for param_name, param in component.named_parameters():
                if marker in param_name:
                    total += param.numel() * param.element_size()
        return total

    def activate(self, adapter_id: str | None) -> None:
        """Make exactly this adapter active (None: the plain base model)."""
        with self._lock:
            if adapter_id is None:
                if self._adapters and self._lora_enabled:
                    self.pipe.disable_lora()
                    self._lora_enabled = False
                return
            entry = self._adapters[adapter_id]
            if not self._lora_enabled:
                self.pipe.enable_lora()
                self._lora_enabled = True
            self.pipe.set_adapters([entry.name], adapter_weights=[1.0])

    # ---- rendering -----------------------------------------------------------------------------------

    @property
    def img2img(self) -> Any:
        """The finishing passes' img2img pipeline: built once from the resident base's own components
        (the same UNet, VAE, text encoder, sampler and active LoRA adapter; no second pipeline)."""
        if self._img2img is None:
            self._img2img = img2img_pipeline(self.pipe)
        return self._img2img

    def _finder(self) -> Callable[[Any], list[Any]]:
        if self.face_finder is not None:
            return self.face_finder
        try:
            from avatar_runtime.finishing import find_face_boxes
            from face_analysis.models import models

            models()  # the face model's files: refused now, not after the render
        except (ImportError, RuntimeError) as exc:
            raise InvalidRequestError(f"face_detail is not available on this endpoint: {exc}") from None
        self.face_finder = find_face_boxes
        return find_face_boxes

    def default_size(self, metadata: Mapping[str, Any] | None) -> int:
        """The side rendered when the request gives none: the adapter's trained resolution, else the base
        model's native size."""
        trained = (metadata or {}).get("resolution")
        bounds = family(self.family).generation
        if isinstance(trained, int) and bounds.min_side <= trained <= bounds.max_side and trained % 8 == 0:
            return trained
        return self.native_size

    def generate(
        self,
        prompt: str,
        negative_prompt: str = "",
        gen_args: GenArgs | None = None,
        adapter_id: str | None = None,
        adapter_file: str | os.PathLike[str] | None = None,
        triton_model: str | None = None,
        deadline: float | None = None,
    ) -> list[bytes]:
        """Render `gen_args.num_images` images (`avatar_runtime.rendering.render`, as the training's
        previews); returns encoded JPEG/PNG bytes. Image i uses a CPU generator seeded `seed + i`, so the
        same seed, prompt and adapter always give the same images, on any device. The default size is the
        adapter's trained resolution (its metadata), else the base model's. An empty negative prompt
        means the default one unless `gen_args.default_negative_prompt` is false. Past `deadline` (Unix
        seconds, `hosting_server.deadline`) the render stops with DeadlineExceededError."""
        gen_args = gen_args or GenArgs()
        if not prompt or not prompt.strip():
            raise InvalidRequestError("prompt must not be empty")
        if (adapter_id is None) != (adapter_file is None):
            raise InvalidRequestError("adapter_id and adapter_path go together")
        torch = self._torch
        try:
            with self._lock:
                deadline_check(deadline, "before rendering")  # it may have waited behind another render
                metadata = None
                if adapter_id is not None and adapter_file is not None:  # both or neither (checked above)
                    metadata = self.ensure_adapter(adapter_id, adapter_file, triton_model).metadata
                self.activate(adapter_id)
                seed = gen_args.seed if gen_args.seed is not None else int(torch.seed() % 2**32)
                size = self.default_size(metadata)
                negative = render_prompt(negative_prompt, metadata) if negative_prompt else None
                if negative is None and not gen_args.default_negative_prompt:
                    negative = ""
                width, height = gen_args.width or size, gen_args.height or size
                sized = gen_args.model_copy(update={"width": width, "height": height})
                problem = family_bounds_problem(sized, self.family)
                if problem:
                    raise InvalidRequestError(problem)
                finder = self._finder() if gen_args.face_detail else None
                rendered = render_prompt(prompt, metadata)
                images = render(
                    self.pipe,
                    rendered,
                    seed=seed,
                    count=gen_args.num_images,
                    size=(width, height),
                    negative_prompt=negative,
                    steps=gen_args.num_inference_steps,
                    guidance_scale=gen_args.guidance_scale,
                    callback=step_callback(deadline, gen_args.num_inference_steps),
                )
                if gen_args.hires or gen_args.face_detail:  # with the same adapter still active
                    images = finish(
                        self.img2img,
                        images,
                        rendered,
                        seed=seed,
                        args=gen_args,
                        work_size=self.native_size,
                        negative_prompt=negative,
                        finder=finder,
                        callback_for=lambda steps: step_callback(deadline, steps),
                    )
            return encode_within_limit(images, gen_args.output_format)
        except ResponseTooLargeError as exc:
            raise InvalidRequestError(str(exc)) from None
        except (InvalidRequestError, AdapterError, DeadlineExceededError):
            raise
        except Exception as exc:
            if is_out_of_memory(exc):
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                raise OutOfMemoryError(f"out of memory: {type(exc).__name__}: {exc}") from exc
            raise
