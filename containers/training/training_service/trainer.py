"""DreamBooth fine-tuning with LoRA (diffusers + peft): the training loop, one for every base family.

The method is DreamBooth (Ruiz et al., 2022) as diffusers' `train_dreambooth_lora.py` (SD 2.x) and
`train_dreambooth_lora_sdxl.py` (SDXL) examples apply it: LoRA adapters on the UNet's attention
projections (and optionally every CLIP text encoder's), the noise-prediction MSE on the instance images,
plus the same loss on images the base model generated for the class prompt (prior preservation) weighted
by `prior_loss_weight`. What differs per family — its text encoders, how a prompt conditions the UNet,
SDXL's pooled embedding and micro-conditioning — is `training_service.families`. Written here as one
compact loop (no accelerate launcher: one process, one device) so the service and the benchmarks can call
it as a function. The frozen VAE encodes every image once up front and leaves (its latent distribution is
sampled each step, which is what encoding each step would give); with frozen text encoders the prompts
are encoded once too, and the encoders leave before the UNet is loaded where the family says so.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from diffusers.training_utils import cast_training_params
from peft import LoraConfig
from PIL import Image

from avatar_contract.names import Triton
from avatar_contract.training import TrainingHyperparameters
from avatar_runtime.base_model import weights_variant
from avatar_runtime.rendering import DEFAULT_STEPS, load_pipeline, render, render_prompts
from training_service.checkpoints import Checkpoints, save_adapter
from training_service.deadline import denoising_callback
from training_service.errors import TrainingDiverged
from training_service.families import CropGeometry, conditioning_for
from training_service.objective import face_masks, final_loss, instance_loss
from training_service.personalization import instance_text

logger = logging.getLogger(__name__)

MAX_GRAD_NORM = 1.0
# Class images come from this seed whatever the user's training seed, so one cached set per deployment
# serves every training with the same base model, class prompt and resolution (class_images).
CLASS_IMAGE_SEED = 0
# Gradient checkpointing costs ~20-30 % per step; without it, SD 2.x LoRA training at 512 px with prior
# preservation peaks near 14 GiB in bf16: it is turned on only below this much GPU memory (or > 768 px).
GRADIENT_CHECKPOINTING_BELOW_GIB = 20


@dataclass
class LoraTrainingResult:
    adapter_file: Path
    steps: int
    seconds: float
    final_loss: float
    trained_text_encoder: bool
    device: str
    precision: str
    losses: list[float] = field(default_factory=list)
    optimizer: str = "AdamW"  # "AdamW8bit" when bitsandbytes was used

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


def use_gradient_checkpointing(config: TrainingHyperparameters, device: str) -> bool:
    """As set, else only where memory requires it: a GPU under GRADIENT_CHECKPOINTING_BELOW_GIB, or more
    than 768 px (never on the CPU, where memory is not the limit)."""
    if config.gradient_checkpointing is not None:
        return config.gradient_checkpointing
    if not device.startswith("cuda"):
        return False
    total = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return total < GRADIENT_CHECKPOINTING_BELOW_GIB * 2**30 or config.resolution > 768


def resolve_precision(mixed_precision: str, device: str) -> torch.dtype:
    """fp32 on CPU (half precision there is slow and unstable); bf16 where the GPU has it, else fp16."""
    if not device.startswith("cuda") or mixed_precision == "no":
        return torch.float32
    if mixed_precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mixed_precision == "bf16" else torch.float16


def _to_tensor(images: Sequence[Image.Image]) -> torch.Tensor:
    """RGB images (all the same size) as a [-1, 1] float tensor (N, 3, H, W)."""
    array = np.stack([np.asarray(img.convert("RGB"), dtype=np.float32) for img in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1.0


@torch.no_grad()
def _encode_latents(vae: AutoencoderKL, images: Sequence[Image.Image], device: str, dtype: torch.dtype):
    """Mean and std of the VAE's latent distribution for every image (encoded once, in chunks)."""
    means, stds = [], []
    pixels = _to_tensor(images)
    for chunk in pixels.split(4):
        dist = vae.encode(chunk.to(device, dtype)).latent_dist  # type: ignore[attr-defined]  # diffusers' __init__ shows type checkers its dummy class
        means.append(dist.mean.float())
        stds.append(dist.std.float())
    return torch.cat(means), torch.cat(stds)


def _make_optimizer(groups: list[dict], use_8bit_adam: bool, device: str) -> torch.optim.Optimizer:
    """8-bit AdamW (bitsandbytes) when asked for on a GPU and importable (the CUDA image), else torch's
    AdamW, saying so: the optimizer state then takes 8 bytes per trained parameter instead of 2."""
    if use_8bit_adam and device.startswith("cuda"):
        try:
            import bitsandbytes as bnb  # optional: quarters the optimizer state's memory on GPU

            return bnb.optim.AdamW8bit(groups, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
        except ImportError:
            logger.warning("use_8bit_adam: bitsandbytes is not importable here; using torch AdamW")
    elif use_8bit_adam:
        logger.warning("use_8bit_adam: 8-bit Adam needs a CUDA device; using torch AdamW on %s", device)
    return torch.optim.AdamW(groups, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)


Check = Callable[[int | None], None]  # raises to stop the training (training_service.deadline)


def generate_class_images(
    pipeline_dir: Path | str,
    prompt: str,
    count: int,
    resolution: int,
    device: str,
    steps: int = DEFAULT_STEPS,
    batch_size: int = 4,
    check: Check | None = None,
) -> list[Image.Image]:
    """Images of the class (e.g. "a photo of person") from the base model, for prior preservation:
    rendered as the endpoint renders (`avatar_runtime.rendering`), image n from seed CLASS_IMAGE_SEED + n."""
    pipe = load_pipeline(pipeline_dir, device)
    images: list[Image.Image] = []
    while len(images) < count:
        n = min(batch_size, count - len(images))
        images.extend(
            render(
                pipe, prompt, seed=CLASS_IMAGE_SEED + len(images), count=n, size=resolution, steps=steps,
                callback=denoising_callback(check),
            )
        )  # fmt: skip
    del pipe
    return images


def train_lora(
    pipeline_dir: Path | str,
    images: Sequence[Image.Image],
    config: TrainingHyperparameters,
    output_dir: Path,
    device: str = "cpu",
    class_images: Sequence[Image.Image] | None = None,
    log_every: int = 25,
    sample_steps: int = DEFAULT_STEPS,
    on_log: Callable[[int, float, float], None] | None = None,
    check: Check | None = None,
    checkpoints: Checkpoints | None = None,
    on_step: Callable[[int, float], None] | None = None,  # (steps done, loss) after every step
    stop: Callable[[int, float], bool] | None = None,  # (steps done, seconds so far): end the run now?
    image_weights: Sequence[float] | None = None,  # per image: its instance loss's weight (default 1)
    face_boxes: Sequence[tuple[float, float, float] | None] | None = None,  # per image (face_loss_weight)
    crops: Sequence[CropGeometry | None] | None = None,  # per image: where it was cropped (SDXL's time ids)
) -> LoraTrainingResult:
    """Fine-tune LoRA adapters on `images` (squares at `config.resolution`) and save them in diffusers
    format as `output_dir/pytorch_lora_weights.safetensors`. With prior preservation and no
    `class_images`, they are generated here first. Raises TrainingDiverged on a NaN/inf loss; `check`
    is called with the steps done before every step (and between denoising steps) and may raise. With
    `checkpoints`, the adapter is also saved at each of its steps before the last (checkpoint selection).
    When `stop` answers True after a step (the time budget's projection), the run ends there: that step's
    adapter is the output and `steps` says how many were done."""
    if not images:
        raise ValueError("no training images")
    if image_weights is not None and len(image_weights) != len(images):
        raise ValueError("one weight per training image")
    started = time.monotonic()
    torch.manual_seed(config.seed)
    generator = torch.Generator("cpu").manual_seed(config.seed)
    dtype = resolve_precision(config.mixed_precision, device)
    prior = config.with_prior_preservation
    if prior and not class_images:
        class_images = generate_class_images(
            pipeline_dir, config.class_prompt, config.num_class_images, config.resolution, device,
            steps=sample_steps, check=check,
        )  # fmt: skip
    class_images = class_images or []

    variant = weights_variant(pipeline_dir)  # "fp16" for the staged default: cast to `dtype` on load
    prompts = [instance_text(config)] + ([config.class_prompt] if prior else [])
    # The family's tokenizers and text encoders (SD 2.x: one; SDXL: two), its fixed prompts tokenized.
    family, conditioning = conditioning_for(pipeline_dir)
    text = conditioning(family, pipeline_dir, prompts, device, dtype, variant)
    if not config.train_text_encoder:  # the prompts' conditioning is fixed: computed once, and where the
        with torch.no_grad():  # family says so (SDXL's two encoders: 1.6 GB in fp16) the encoders are
            fixed = text.encode()  # released before the UNet arrives
        if family.training.precompute_text_embeddings:
            text.release()
    # The frozen VAE encodes every image once (its latent distribution, sampled each step), then leaves.
    vae = AutoencoderKL.from_pretrained(pipeline_dir, subfolder="vae", dtype=dtype, variant=variant)
    vae.requires_grad_(False)
    vae.to(device)
    inst_mean, inst_std = _encode_latents(vae, images, device, dtype)
    if prior:
        class_mean, class_std = _encode_latents(vae, class_images, device, dtype)
    scaling = vae.config.scaling_factor
    del vae
    unet = UNet2DConditionModel.from_pretrained(pipeline_dir, subfolder="unet", dtype=dtype, variant=variant)
    scheduler = DDPMScheduler.from_pretrained(pipeline_dir, subfolder="scheduler")
    unet.requires_grad_(False)
    unet.to(device)

    unet_lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_rank, init_lora_weights="gaussian",
        target_modules=list(family.unet_lora_targets),
    )  # fmt: skip
    unet.add_adapter(unet_lora)
    trained: list[torch.nn.Module] = [unet]
    text_lora: dict[str, LoraConfig] = {}  # per text encoder subfolder, when they train
    if config.train_text_encoder:
        text_lora = text.add_lora(config.text_encoder_lora_rank)
        trained += text.encoders.values()
    cast_training_params(trained, dtype=torch.float32)  # LoRA weights train in fp32 under autocast
    if use_gradient_checkpointing(config, device):
        unet.enable_gradient_checkpointing()
        if config.train_text_encoder:
            text.enable_checkpointing()
    unet.train()

    masks = face_masks(face_boxes, inst_mean.shape[-2:], config.face_loss_weight, len(images), device)
    size = config.resolution
    geometry = [g or CropGeometry.square(size) for g in (crops or [None] * len(images))]

    unet_params = [p for p in unet.parameters() if p.requires_grad]
    groups = [{"params": unet_params, "lr": config.learning_rate}]
    params = list(unet_params)
    for encoder in text.encoders.values() if config.train_text_encoder else ():
        text_params = [p for p in encoder.parameters() if p.requires_grad]
        groups.append({"params": text_params, "lr": config.text_encoder_learning_rate})
        params += text_params
    optimizer = _make_optimizer(groups, config.use_8bit_adam, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    autocast = (
        torch.autocast(device_type="cuda", dtype=dtype)
        if dtype != torch.float32
        else contextlib.nullcontext()
    )

    order = torch.randperm(len(images), generator=generator)
    losses: list[float] = []
    loss_value = math.nan
    done, done_max = 0, config.max_train_steps
    loop_started = time.monotonic()
    for step in range(config.max_train_steps):
        if check:
            check(step)
        if step and step % len(images) == 0:
            order = torch.randperm(len(images), generator=generator)
        i = int(order[step % len(images)])
        weight = image_weights[i] if image_weights else 1.0
        mean, std = inst_mean[i : i + 1], inst_std[i : i + 1]
        if prior:
            j = step % len(class_images)
            mean, std = torch.cat([mean, class_mean[j : j + 1]]), torch.cat([std, class_std[j : j + 1]])
        eps = torch.randn(mean.shape, generator=generator).to(device)
        latents = (mean + std * eps) * scaling
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(
            0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator
        ).to(device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        if scheduler.config.prediction_type == "v_prediction":
            target = scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        rows, sources = ([0, 1], [geometry[i], CropGeometry.square(size)]) if prior else ([0], [geometry[i]])
        with autocast:
            encoded = text.encode() if config.train_text_encoder else fixed
            unet_inputs = text.unet_kwargs(encoded, rows, sources, size, dtype)
            pred = unet(noisy.to(dtype), timesteps, **unet_inputs).sample
        pred = pred.float()
        if prior:
            pred_inst, pred_class = pred.chunk(2)
            target_inst, target_class = target.chunk(2)
            loss = weight * instance_loss(
                pred_inst, target_inst, timesteps[:1], scheduler, config.snr_gamma, masks[i]
            )
            loss = loss + config.prior_loss_weight * F.mse_loss(pred_class, target_class)
        else:
            loss = weight * instance_loss(pred, target, timesteps, scheduler, config.snr_gamma, masks[i])
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"the training loss became {loss_value} at step {step + 1}")
        if scaler:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss_value)
        done = step + 1
        if on_step:
            on_step(done, loss_value)
        if done % max(log_every, 1) == 0 or done == config.max_train_steps:
            elapsed = time.monotonic() - started
            logger.info(
                "step %d/%d loss %.5f elapsed %.1fs", done, config.max_train_steps, loss_value, elapsed
            )
            if on_log:
                on_log(done, loss_value, elapsed)
        if done < config.max_train_steps and stop and stop(done, time.monotonic() - loop_started):
            logger.warning("stopping after step %d of %d: the time budget's projection", done, done_max)
            break
        if checkpoints is not None and checkpoints.due(done):
            save_adapter(checkpoints.directory(done), pipeline_dir, unet, unet_lora, text.encoders, text_lora)

    save_adapter(output_dir, pipeline_dir, unet, unet_lora, text.encoders, text_lora)
    return LoraTrainingResult(
        adapter_file=output_dir / Triton.ADAPTER_FILE,
        steps=done,
        seconds=time.monotonic() - started,
        final_loss=final_loss(losses),
        trained_text_encoder=config.train_text_encoder,
        device=device,
        precision=str(dtype).removeprefix("torch."),
        losses=losses,
        optimizer=type(optimizer).__name__,
    )


def render_previews(
    pipeline_dir: Path | str,
    adapter_dir: Path,
    prompts: Sequence[str],
    resolution: int,
    device: str,
    seeds: Sequence[int] = (0,),
    steps: int = DEFAULT_STEPS,
    check: Check | None = None,
) -> list[Image.Image]:
    """One image per (prompt, seed) with the trained adapter, loaded the way hosting loads it and rendered
    as the endpoint renders (`avatar_runtime.rendering.render_prompts`)."""
    pipe = load_pipeline(pipeline_dir, device)
    pipe.load_lora_weights(adapter_dir, weight_name=Triton.ADAPTER_FILE)
    images = render_prompts(
        pipe, prompts, seeds, size=resolution, steps=steps, callback=denoising_callback(check)
    )
    del pipe
    return images
