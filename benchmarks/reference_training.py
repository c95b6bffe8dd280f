"""The comparison baseline for training: a plain DreamBooth-LoRA loop written directly on diffusers + peft,
in the shape of diffusers' own `train_dreambooth_lora.py` example (which the reference sample's trainer
followed), with the same settings as the training service.

It is deliberately the textbook loop (VAE encode and text encode on every step, LoRA on the UNet's
attention projections and optionally the text encoder's, AdamW, MSE on epsilon, prior-preservation loss
on a concatenated class batch, gradient clipping at 1.0) so the benchmark answers "what does the
service's loop cost compared with the obvious implementation?".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from peft import LoraConfig
from transformers import CLIPTextModel, CLIPTokenizer

from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES
from avatar_contract.prompts import personalize
from avatar_contract.training import REFERENCE_TOKEN


@dataclass(frozen=True)
class LoopSettings:
    """The knobs both loops share (names follow `avatar_contract.training.TrainingHyperparameters`)."""

    resolution: int = 64
    lora_rank: int = 32
    train_text_encoder: bool = True
    text_encoder_lora_rank: int = 16
    with_prior_preservation: bool = True
    prior_loss_weight: float = 1.0
    learning_rate: float = 1e-4
    text_encoder_learning_rate: float = 5e-5
    gradient_checkpointing: bool = True
    token: str = "sks"
    instance_prompt: str = "a photo of <<TOK>>"
    class_prompt: str = "a photo of person"
    seed: int = 0


def synthetic_images(count: int, resolution: int, seed: int) -> torch.Tensor:
    """`count` RGB images in [-1, 1] (the loop's input after preparation); content does not change cost."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, resolution, resolution, generator=generator) * 2 - 1


def _lora(rank: int, target_modules: Iterable[str]) -> LoraConfig:
    """The example script's LoRA: alpha = rank, Gaussian initialisation."""
    return LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=list(target_modules)
    )


class ReferenceDreamBoothLoRA:
    """The plain loop: `step()` runs one optimisation step on the next image (and class image)."""

    def __init__(
        self, pipeline_dir: Path, settings: LoopSettings, instance: torch.Tensor, klass: torch.Tensor
    ):
        torch.manual_seed(settings.seed)
        self.settings = settings
        self.tokenizer = CLIPTokenizer.from_pretrained(pipeline_dir, subfolder="tokenizer")
        # CPU: train in fp32 (the service's "auto" mixed precision is fp32 without a GPU).
        dtype = torch.float32
        self.text_encoder = CLIPTextModel.from_pretrained(pipeline_dir, subfolder="text_encoder", dtype=dtype)
        self.vae = AutoencoderKL.from_pretrained(pipeline_dir, subfolder="vae", torch_dtype=dtype)
        self.unet = UNet2DConditionModel.from_pretrained(pipeline_dir, subfolder="unet", torch_dtype=dtype)
        self.scheduler = DDPMScheduler.from_pretrained(pipeline_dir, subfolder="scheduler")
        for module in (self.text_encoder, self.vae, self.unet):
            module.requires_grad_(False)
        self.unet.add_adapter(_lora(settings.lora_rank, UNET_TARGET_MODULES))
        groups: list[dict[str, Any]] = [
            {"params": [p for p in self.unet.parameters() if p.requires_grad], "lr": settings.learning_rate}
        ]
        if settings.train_text_encoder:
            self.text_encoder.add_adapter(_lora(settings.text_encoder_lora_rank, TEXT_ENCODER_TARGET_MODULES))
            groups.append(
                {
                    "params": [p for p in self.text_encoder.parameters() if p.requires_grad],
                    "lr": settings.text_encoder_learning_rate,
                }
            )
        if settings.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            if settings.train_text_encoder:
                # transformers 5 renamed gradient_checkpointing_enable (the old name warns)
                te = self.text_encoder
                getattr(te, "activation_checkpointing_enable", te.gradient_checkpointing_enable)()
        self.unet.train()
        self.text_encoder.train(settings.train_text_encoder)
        self.params = [p for group in groups for p in group["params"]]
        self.optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
        self.instance, self.klass = instance, klass
        self.instance_ids = self._tokenize(
            personalize(
                settings.instance_prompt,
                {"token": settings.token or REFERENCE_TOKEN, "class_prompt": settings.class_prompt},
            )
        )
        self.class_ids = self._tokenize(settings.class_prompt)
        self.index = 0
        self.last_loss = float("nan")

    def _tokenize(self, prompt: str) -> torch.Tensor:
        return self.tokenizer(
            prompt,
            padding="max_length",
            truncation=True,
            max_length=self.tokenizer.model_max_length,
            return_tensors="pt",
        ).input_ids

    def step(self) -> float:
        s = self.settings
        i = self.index % len(self.instance)
        self.index += 1
        pixels = self.instance[i : i + 1]
        ids = self.instance_ids
        if s.with_prior_preservation:
            pixels = torch.cat([pixels, self.klass[i % len(self.klass) : i % len(self.klass) + 1]])
            ids = torch.cat([ids, self.class_ids])
        with torch.no_grad():
            latents = self.vae.encode(pixels).latent_dist.sample() * self.vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (latents.shape[0],))
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        if s.train_text_encoder:
            hidden = self.text_encoder(ids)[0]
        else:
            with torch.no_grad():
                hidden = self.text_encoder(ids)[0]
        pred = self.unet(noisy, timesteps, hidden).sample
        if s.with_prior_preservation:
            pred, prior_pred = pred.chunk(2)
            noise, prior_noise = noise.chunk(2)
            loss = F.mse_loss(pred.float(), noise.float()) + s.prior_loss_weight * F.mse_loss(
                prior_pred.float(), prior_noise.float()
            )
        else:
            loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.last_loss = float(loss.detach())
        return self.last_loss
