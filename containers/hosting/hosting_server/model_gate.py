"""What the hosting container accepts as a per-user model, checked before Triton sees it.

A per-user archive carries no code (avatar_runtime.artifact): one model folder holding exactly
`config.pbtxt`, `1/pytorch_lora_weights.safetensors` and `1/metadata.json`, and a `config.pbtxt` that is the
image's own template byte for byte (it names the `avatar_lora` Python-based backend baked into the image).
Anything else could make Triton run code from the archive: a `model.py` under `backend: "python"`, a
`libtriton_<backend>.so` (Triton looks for a backend's library in the model's own folders first), a
`runtime:` file, or an `EXECUTION_ENV_PATH` parameter pointing at a packed Python environment. So a load
whose folder holds any other file, folder or link, or a config that differs from the template, is refused
with a clear message and never reaches Triton (`hosting_server.gate` answers SageMaker's `POST /models`).
A model trained on another base family than the one this endpoint serves (`metadata.json`'s
`base_family`; none: sd21-base) is refused too (`FamilyRefused`, answered 409 naming both families).
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from avatar_contract.families import FamilyMismatchError, FamilyName, UnknownFamilyError, require_family
from avatar_contract.names import Triton
from avatar_runtime.artifact import USER_TEMPLATE, artifact_members

# Far above what a trained adapter weighs (rank 128 UNet + rank 64 text encoder, fp32: ~200 MB) and what
# the publisher writes as metadata; a bigger file is not one of ours.
MAX_ADAPTER_BYTES = 1024**3
MAX_METADATA_BYTES = 64 * 1024

_BACKEND = re.compile(r"""\bbackend\s*:\s*["']([^"']*)["']""")
_FORBIDDEN_FIELDS = {
    "EXECUTION_ENV_PATH": "names an execution environment (EXECUTION_ENV_PATH)",
    "platform": "names a platform",
    "runtime": "names a backend runtime file",
    "parameters": "sets parameters",
    "model_repository_agents": "names a repository agent",
}


class RefusedModel(ValueError):
    """The folder is not a code-free per-user model; the message says why."""

    status = 400


class FamilyRefused(RefusedModel):
    """A per-user model of another base family than the endpoint serves (the message names both)."""

    status = 409


def template_config() -> bytes:
    """The per-user model's `config.pbtxt` as this image carries it."""
    return (USER_TEMPLATE / Triton.CONFIG_FILE).read_bytes()


def check_config(config: bytes, template: bytes) -> None:
    """Refuse a `config.pbtxt` that is not the image's template, naming the first reason found."""
    if config == template:
        return
    text = config.decode("utf-8", errors="replace")
    backends = _BACKEND.findall(text)
    if any(name != Triton.USER_BACKEND for name in backends):
        others = ", ".join(sorted({name for name in backends if name != Triton.USER_BACKEND}))
        raise RefusedModel(
            f"config.pbtxt names backend {others!r}; per-user models use {Triton.USER_BACKEND!r}"
        )
    for field, reason in _FORBIDDEN_FIELDS.items():
        if re.search(rf"\b{field}\b", text):
            raise RefusedModel(f"config.pbtxt {reason}; per-user models use the image's template only")
    raise RefusedModel("config.pbtxt differs from the image's per-user model template")


def check_family(metadata_file: Path, served: FamilyName | None, model: str) -> None:
    """FamilyRefused when the model's metadata names another base family than `served` (None: no check)."""
    if served is None:
        return
    try:
        metadata = json.loads(metadata_file.read_bytes())
    except ValueError:
        raise RefusedModel(f"{Triton.METADATA_FILE} is not JSON") from None
    if not isinstance(metadata, dict):
        raise RefusedModel(f"{Triton.METADATA_FILE} is not a JSON object")
    try:
        require_family(metadata, served, model)
    except FamilyMismatchError as exc:
        raise FamilyRefused(str(exc)) from None
    except UnknownFamilyError as exc:
        raise RefusedModel(str(exc)) from None


def check_user_model(
    url: Path | str, template: bytes | None = None, served_family: FamilyName | None = None
) -> Path:
    """Check an extracted per-user model (SageMaker's `url`): its model folder, or RefusedModel
    (FamilyRefused for a model of another base family than `served_family`; None: not checked)."""
    root = Path(url)
    if not root.is_dir() or root.is_symlink():
        raise RefusedModel(f"model location {root} is not a folder")
    top = sorted(root.iterdir())
    if len(top) != 1 or top[0].is_symlink() or not top[0].is_dir():
        names = ", ".join(path.name for path in top[:5]) or "nothing"
        raise RefusedModel(f"a per-user model holds exactly one model folder, not: {names}")
    model_id = top[0].name
    files = artifact_members(model_id)
    folders = {model_id, f"{model_id}/{Triton.VERSION_DIR}"}
    seen: set[str] = set()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode) and relative in folders:
            continue
        if stat.S_ISREG(mode) and relative in files:
            seen.add(relative)
            continue
        kind = "link" if stat.S_ISLNK(mode) else "folder" if stat.S_ISDIR(mode) else "file"
        allowed = ", ".join(sorted(name.split("/", 1)[1] for name in files))
        raise RefusedModel(f"the model holds a {kind} that is not part of a per-user model: {relative} "
                           f"(a per-user model carries no code; only {allowed})")  # fmt: skip
    missing = sorted(files - seen)
    if missing:
        raise RefusedModel(f"the model lacks {', '.join(missing)}")
    model_dir = top[0]
    version = model_dir / Triton.VERSION_DIR
    for path, bound in ((version / Triton.ADAPTER_FILE, MAX_ADAPTER_BYTES),
                        (version / Triton.METADATA_FILE, MAX_METADATA_BYTES)):  # fmt: skip
        if path.stat().st_size > bound:
            raise RefusedModel(f"{path.name} exceeds {bound} bytes")
    check_config(
        (model_dir / Triton.CONFIG_FILE).read_bytes(), template_config() if template is None else template
    )
    check_family(version / Triton.METADATA_FILE, served_family, f"model {model_id!r}")
    return model_dir
