"""One training, start to finish: input archive in, published model (or a clear failure) out.

Knows nothing of HTTP: `TrainingService.run` takes the archive's path and returns a `TrainingResult` or
raises a `TrainingError` whose reason and status the server passes on. The order of the side effects is
what makes a failure leave nothing behind: everything is computed locally first, previews go to the data
bucket next, and the model artifact is written to the hosting bucket last; if that upload fails, the
previews are deleted again.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from avatar_contract.artifact import package_user_model
from avatar_contract.keys import model_key, split_s3_uri, target_model
from avatar_contract.training import TrainingConfig, TrainingMetrics, TrainingResult
from training_service.archive import IMAGE_SUFFIXES, read_training_archive
from training_service.base_model import cached_class_images, resolve_base_model
from training_service.config import load_training_config
from training_service.errors import Busy, GpuUnavailable, InvalidInput, PublishFailed, TrainingError
from training_service.images import prepare_images
from training_service.likeness import score_previews
from training_service.settings import Settings
from training_service.storage import S3Store
from training_service.trainer import (
    generate_class_images,
    instance_text,
    render_previews,
    train_lora,
    validation_texts,
)

logger = logging.getLogger(__name__)


class TrainingService:
    """Runs trainings one at a time; the base model and class images are cached across runs."""

    def __init__(self, settings: Settings, store: S3Store | None = None) -> None:
        self.settings = settings
        self.store = store or S3Store()
        self._lock = threading.Lock()
        self._base_lock = threading.Lock()
        self.current_training_id: str | None = None
        self._gpu_lock = threading.Lock()
        self._gpu_checked = threading.Event()
        self._gpu_check_started = False
        self._gpu_problem: str | None = None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def base_model_dir(self) -> Path:
        """The base model's local directory, downloaded into the cache on first use."""
        with self._base_lock:
            return resolve_base_model(self.settings.base_model, self.settings.cache_dir, self.store)

    def check_gpu(self) -> str | None:
        """Why the GPU this instance has cannot be used (None when it can, or none is expected); checked
        once, since a driver that is too old stays too old."""
        with self._gpu_lock:
            if not self._gpu_checked.is_set():
                try:
                    self._gpu_problem = self.settings.gpu_problem()
                except Exception as exc:  # the check itself failed: no usable GPU either
                    self._gpu_problem = f"could not check the GPU: {type(exc).__name__}: {exc}"
                self._gpu_checked.set()
                if self._gpu_problem:
                    logger.error("not serving: %s", self._gpu_problem)
        return self._gpu_problem

    def health_problem(self) -> str | None:
        """What /ping reports, without blocking: None when healthy. With a GPU expected, unhealthy until
        the (background) GPU check has passed."""
        if not self.settings.expect_gpu:
            return None
        if self._gpu_checked.is_set():
            return self._gpu_problem
        with self._gpu_lock:
            if not self._gpu_check_started:
                self._gpu_check_started = True
                threading.Thread(target=self.check_gpu, name="gpu-check", daemon=True).start()
        return "starting: checking that torch can use the GPU"

    def warm_up(self) -> None:
        """Check the GPU, then fetch the base model before the first request (a background thread at
        start-up)."""
        if self.check_gpu():
            return
        try:
            self.base_model_dir()
        except Exception:
            logger.exception(
                "could not fetch the base model %s; the first training will retry", self.settings.base_model
            )

    def run(self, archive: Path, inference_id: str | None = None) -> TrainingResult:
        """Train from the archive at `archive`; raise Busy if another training is running."""
        if not self._lock.acquire(blocking=False):
            raise Busy("another training is running on this instance; retry later")
        try:
            self.current_training_id = None
            with tempfile.TemporaryDirectory(prefix="training-") as work:
                return self._run(archive, inference_id, Path(work))
        except TrainingError as exc:
            exc.training_id = self.current_training_id
            raise
        except Exception as exc:  # an unexpected error is still a failed training, with its reason
            logger.exception("training %s failed", self.current_training_id)
            reason = f"internal error during training: {type(exc).__name__}: {exc}"
            raise TrainingError(reason, self.current_training_id) from exc
        finally:
            self.current_training_id = None
            self._lock.release()

    def _run(self, archive: Path, inference_id: str | None, work: Path) -> TrainingResult:
        started = time.monotonic()
        settings = self.settings
        content = read_training_archive(archive, settings.limits)
        config = load_training_config(content.config, settings, inference_id)
        self.current_training_id = config.training_id
        gpu_problem = self.check_gpu()
        if gpu_problem:
            raise GpuUnavailable(gpu_problem)
        model_bucket, model_object = _check_destination(config)
        logger.info(
            "training %s (model %s): %d image file(s)",
            config.training_id,
            config.model_id,
            len(content.images),
        )
        if not content.images:
            ignored = ", ".join(content.ignored[:10]) or "none"
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise InvalidInput(f"the archive holds no image files ({kinds}); other files: {ignored}")
        prepared = prepare_images(
            content.images, config.resolution, config.face_crop, config.min_usable_images,
            settings.limits.max_image_pixels,
        )  # fmt: skip

        device = settings.torch_device()
        try:
            base_dir = self.base_model_dir()
        except Exception as exc:
            raise TrainingError(f"could not load the base model {settings.base_model!r}: {exc}") from exc
        class_images = None
        if config.with_prior_preservation:
            class_images = cached_class_images(
                settings.cache_dir, settings.base_model, config.class_prompt, config.resolution,
                config.num_class_images, config.seed, settings.sample_steps,
                lambda: generate_class_images(
                    base_dir, config.class_prompt, config.num_class_images, config.resolution, device,
                    seed=config.seed, steps=settings.sample_steps,
                ),
            )  # fmt: skip

        adapter_dir = work / "adapter"
        trained = train_lora(
            base_dir, list(prepared.usable.values()), config, adapter_dir, device,
            class_images=class_images, log_every=settings.log_every, sample_steps=settings.sample_steps,
        )  # fmt: skip
        previews = render_previews(
            base_dir, adapter_dir, validation_texts(config),
            config.resolution, device, seed=config.seed, steps=settings.sample_steps,
        )  # fmt: skip
        artifact = package_user_model(
            config.model_id, trained.adapter_file, _metadata(config, settings, trained.final_loss),
            work / f"{config.model_id}.tar.gz", template_dir=settings.template_dir,
        )  # fmt: skip

        likeness = score_previews(previews, prepared.screening, config.min_identity_similarity)
        preview_bucket, preview_prefix = split_s3_uri(config.preview_s3_prefix)
        preview_keys = self._upload_previews(previews, preview_bucket, preview_prefix, work)
        try:
            self.store.upload_file(artifact, model_bucket, model_object, "application/gzip")
        except Exception as exc:
            self._delete_quietly(preview_bucket, preview_keys)
            raise PublishFailed(f"could not upload the model to {config.model_s3_uri}: {exc}") from exc
        logger.info("training %s published %s", config.training_id, config.model_s3_uri)
        return TrainingResult(
            training_id=config.training_id,
            model_id=config.model_id,
            target_model=target_model(config.owner, config.model_id),
            model_s3_uri=config.model_s3_uri,
            metrics=TrainingMetrics(
                steps=trained.steps,
                seconds=round(time.monotonic() - started, 3),
                final_loss=trained.final_loss,
                usable_images=len(prepared.usable),
                rejected_images=prepared.rejected,
                preview_image_keys=preview_keys,
                identity_similarity=likeness.scores if likeness else [],
                identity_similarity_median=likeness.median if likeness else None,
                identity_similarity_threshold=likeness.threshold if likeness else None,
            ),
        )

    def _upload_previews(self, previews: list, bucket: str, prefix: str, work: Path) -> list[str]:
        keys: list[str] = []
        try:
            for n, image in enumerate(previews):
                path = work / f"preview-{n}.jpg"
                image.save(path, quality=90)
                key = f"{prefix}preview-{n}.jpg"
                self.store.upload_file(path, bucket, key, "image/jpeg")
                keys.append(key)
        except Exception as exc:
            self._delete_quietly(bucket, keys)
            raise PublishFailed(f"could not upload the previews to s3://{bucket}/{prefix}: {exc}") from exc
        return keys

    def _delete_quietly(self, bucket: str, keys: list[str]) -> None:
        try:
            if keys:
                self.store.delete(bucket, keys)
        except Exception:
            logger.exception("could not delete previews %s from %s", keys, bucket)


def _check_destination(config: TrainingConfig) -> tuple[str, str]:
    """The artifact's bucket and key; the key must be the owner's model key (docs/design.md §4)."""
    try:
        expected = model_key(config.owner, config.model_id)
    except ValueError as exc:
        raise InvalidInput(f"invalid config.json: {exc}") from exc
    bucket, key = split_s3_uri(config.model_s3_uri)
    if key != expected:
        raise InvalidInput(f"invalid config.json: model_s3_uri must end with {expected}, got {key!r}")
    return bucket, key


def _metadata(config: TrainingConfig, settings: Settings, final_loss: float) -> dict[str, Any]:
    return {
        "model_id": config.model_id,
        "training_id": config.training_id,
        "owner": config.owner,
        "model_name": config.model_name,
        "token": config.token,
        "instance_prompt": instance_text(config),
        "class_prompt": config.class_prompt,
        "base_model_id": config.base_model_id or settings.base_model,
        "lora_rank": config.lora_rank,
        "text_encoder_lora_rank": config.text_encoder_lora_rank if config.train_text_encoder else None,
        "train_text_encoder": config.train_text_encoder,
        "resolution": config.resolution,
        "max_train_steps": config.max_train_steps,
        "final_loss": final_loss,
        "adapter_format": "diffusers",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
