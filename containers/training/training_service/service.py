"""One training, start to finish: input archive in, published model (or a clear failure) out.

Knows nothing of HTTP: `TrainingService.run` takes the archive's path and returns a `TrainingResult` or
raises a `TrainingError` whose reason and status the server passes on. The order of the side effects is
what makes a failure leave nothing behind: everything is computed locally first, previews go to the data
bucket next, and the adapter and its metadata are staged last (`keys.staged_prefix`, data bucket) for
the model publisher, which checks them and writes the hosting bucket's archive (issue 21 M1: this
container never writes `models/*`); if staging fails, the previews are deleted again. The
destinations are checked against the service's buckets first, and the job's `JobControl` (time budget,
cancellation) is checked throughout, last before the first upload.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar_contract.families import FamilyName
from avatar_contract.keys import progress_key, target_model
from avatar_contract.names import Triton
from avatar_contract.progress import TrainingProgress
from avatar_contract.publishing import STAGED_ADAPTER, STAGED_METADATA, ModelMetadata
from avatar_contract.training import (
    TrainingConfig,
    TrainingMetrics,
    TrainingResult,
    checkpoint_steps,
    effective_class_noun,
)
from avatar_contract.training_budget import CHECKPOINT_SECONDS, render_seconds
from avatar_runtime.rendering import RENDER_VERSION
from training_service.archive import IMAGE_SUFFIXES, TrainingInput, read_training_archive
from training_service.base_model import resolve_base_model
from training_service.checkpoints import Checkpoints, choose_checkpoint
from training_service.class_images import cached_class_images
from training_service.config import Destinations, check_destinations, load_training_config
from training_service.deadline import JobControl, Projection
from training_service.errors import (
    Busy,
    GpuUnavailable,
    InvalidInput,
    PublishFailed,
    TrainingError,
    WrongFamily,
)
from training_service.families import family_of_pipeline
from training_service.images import prepare_images
from training_service.likeness import require_likeness, score_previews
from training_service.objective import final_loss
from training_service.personalization import instance_text, preview_seeds, validation_texts
from training_service.progress import ProgressReporter
from training_service.settings import Settings
from training_service.storage import S3Store
from training_service.trainer import generate_class_images, render_previews, train_lora

logger = logging.getLogger(__name__)


class TrainingService:
    """Runs trainings one at a time; the base model and class images are cached across runs."""

    def __init__(self, settings: Settings, store: S3Store | None = None) -> None:
        self.settings = settings
        self.store = store or S3Store()
        self._lock = threading.Lock()
        self._base_lock = threading.Lock()
        self.current_training_id: str | None = None
        self.current_control: JobControl | None = None
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

    def new_control(self, probe: Callable[[], bool] | None = None) -> JobControl:
        """A job control with this service's time budget, starting now (`probe`: has the caller gone?)."""
        return JobControl(
            self.settings.time_budget_seconds, probe if self.settings.cancel_on_disconnect else None
        )

    def _acquire(self) -> None:
        """Take the instance; a job nobody waits for any more (cancelled, disconnected, past its deadline)
        is cancelled and given `cancel_grace_seconds` to stop first. Busy otherwise."""
        if self._lock.acquire(blocking=False):
            return
        current = self.current_control
        if current is not None and current.is_dead():
            current.cancel("a new invocation arrived and nobody waits for this one")
            logger.warning("cancelling training %s for the next invocation", self.current_training_id)
            if self._lock.acquire(timeout=self.settings.cancel_grace_seconds):
                return
        raise Busy("another training is running on this instance; retry later")

    def run(
        self, archive: Path, inference_id: str | None = None, control: JobControl | None = None
    ) -> TrainingResult:
        """Train from the archive at `archive` within `control`'s budget; raise Busy if another training
        is running (and still wanted)."""
        control = control or self.new_control()
        self._acquire()
        try:
            self.current_training_id = None
            self.current_control = control
            with tempfile.TemporaryDirectory(prefix="training-") as work:
                return self._run(archive, inference_id, Path(work), control)
        except TrainingError as exc:
            exc.training_id = self.current_training_id
            raise
        except Exception as exc:  # an unexpected error is still a failed training; its text stays in the logs
            logger.exception("training %s failed", self.current_training_id)
            reason = "internal error during training (the service's logs have the details)"
            raise TrainingError(reason, self.current_training_id) from exc
        finally:
            self.current_training_id = None
            self.current_control = None
            self._lock.release()

    def _run(
        self, archive: Path, inference_id: str | None, work: Path, control: JobControl
    ) -> TrainingResult:
        started = time.monotonic()
        settings = self.settings
        content = read_training_archive(archive, settings.limits)
        config = load_training_config(content.config, settings, inference_id)
        self.current_training_id = config.training_id
        control.total_steps = config.max_train_steps
        destinations = check_destinations(config, settings)
        gpu_problem = self.check_gpu()
        if gpu_problem:
            raise GpuUnavailable(gpu_problem)
        progress = self._progress_reporter(config, destinations.preview_bucket, started)
        try:
            result = self._train(started, content, config, destinations, work, control, progress)
        except BaseException:
            progress.finish("failed")
            raise
        progress.finish("completed")
        return result

    def _progress_reporter(self, config: TrainingConfig, bucket: str, started: float) -> ProgressReporter:
        """The training's progress object, `keys.progress_key` in the data bucket (docs/training.md)."""
        key = progress_key(config.owner, config.training_id)

        def write(progress: TrainingProgress) -> None:
            self.store.put_bytes(progress.model_dump_json().encode(), bucket, key, "application/json")

        return ProgressReporter(write, config.max_train_steps, started=started)

    def _train(
        self, started: float, content: TrainingInput, config: TrainingConfig, destinations: Destinations,
        work: Path, control: JobControl, progress: ProgressReporter,
    ) -> TrainingResult:  # fmt: skip
        settings = self.settings
        progress.enter("preparing_images")
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
        control.check(0)
        try:
            base_dir = self.base_model_dir()
        except Exception as exc:  # where it is and why it failed: the logs, not the caller
            logger.exception("could not load the base model %r", settings.base_model)
            raise TrainingError("could not load the base model") from exc
        family = family_of_pipeline(base_dir).name
        if config.base_family is not None and config.base_family != family:
            raise WrongFamily(
                f"config.json was validated for base family {str(config.base_family)!r}; this instance "
                f"trains {str(family)!r}"
            )
        class_images = None
        if config.with_prior_preservation:
            progress.enter("class_images")
            class_images = cached_class_images(
                settings.cache_dir, settings.base_model, config.class_prompt, config.resolution,
                config.num_class_images, settings.sample_steps,
                lambda: generate_class_images(
                    base_dir, config.class_prompt, config.num_class_images, config.resolution, device,
                    steps=settings.sample_steps, check=control.check,
                ),
                store=self.store, bucket=settings.data_bucket,
            )  # fmt: skip

        adapter_dir = work / "adapter"
        plan = Checkpoints(config, work / "checkpoints") if checkpoint_steps(config) else None
        seeds = preview_seeds(config, scoring=plan is not None)
        projection = self._projection(config, control, plan, len(seeds))
        progress.enter("training")
        images, weights = prepared.training_set()
        trained = train_lora(
            base_dir, images, config, adapter_dir, device,
            class_images=class_images, log_every=settings.log_every, sample_steps=settings.sample_steps,
            check=control.check, checkpoints=plan, on_step=progress.on_step, stop=projection,
            image_weights=weights, face_boxes=prepared.training_faces(), crops=prepared.training_crops(),
        )  # fmt: skip
        control.check(trained.steps)
        choice = None
        progress.enter("previews")
        if plan is None:
            previews = render_previews(
                base_dir, adapter_dir, validation_texts(config), config.resolution, device,
                seeds=seeds, steps=settings.sample_steps, check=control.check,
            )  # fmt: skip
        else:  # checkpoint selection: the kept checkpoint's adapter, previews and likeness
            choice = choose_checkpoint(
                base_dir, plan.adapters(adapter_dir, trained.steps), config, prepared.screening, device,
                images, settings.sample_steps, control.check,
            )  # fmt: skip
            adapter_dir, previews = choice.adapter_dir, choice.previews
        kept_loss = final_loss(trained.losses[: choice.step]) if choice else trained.final_loss
        progress.enter("publishing")
        metadata_file = work / STAGED_METADATA
        metadata = _metadata(config, settings, family, kept_loss)
        metadata_file.write_text(json.dumps(metadata, indent=2, sort_keys=True))
        staged = {
            STAGED_ADAPTER: adapter_dir / Triton.ADAPTER_FILE,
            STAGED_METADATA: metadata_file,
        }

        if choice is None:
            likeness = score_previews(previews, prepared.screening, config.min_identity_similarity)
        else:
            likeness = require_likeness(choice.likeness, config.min_identity_similarity)
        control.check()  # the last point where stopping costs nothing: nothing is published yet
        preview_bucket = destinations.preview_bucket
        preview_keys = self._upload_previews(previews, preview_bucket, destinations.preview_prefix, work)
        staged_keys = [destinations.staged_prefix + name for name in staged]
        try:
            for (name, path), key in zip(staged.items(), staged_keys, strict=True):
                content_type = "application/json" if name == STAGED_METADATA else "application/octet-stream"
                self.store.upload_file(path, preview_bucket, key, content_type)
        except Exception as exc:
            self._delete_quietly(preview_bucket, [*preview_keys, *staged_keys])
            logger.exception("could not stage the model for %s", config.model_s3_uri)
            raise PublishFailed("could not stage the model for publishing") from exc
        logger.info("training %s staged its model for %s", config.training_id, config.model_s3_uri)
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
                checkpoint_step=choice.step if choice else None,
                checkpoints=choice.scored if choice else [],
                stopped_early=trained.steps < config.max_train_steps,
            ),
        )

    def _projection(
        self, config: TrainingConfig, control: JobControl, plan: Checkpoints | None, seeds: int
    ) -> Projection:
        """The training loop's early stop: what must fit after it is every checkpoint's previews."""
        steps = plan.steps if plan else [config.max_train_steps]
        sample_steps = self.settings.sample_steps

        def image_seconds(step_seconds: float) -> float:
            return render_seconds(
                step_seconds,
                sample_steps,
                config.with_prior_preservation,
                config.train_text_encoder,
                base_family=self.settings.base_family,
            )

        return Projection(
            control, steps, len(config.validation_prompts) * seeds, image_seconds,
            checkpoint_seconds=CHECKPOINT_SECONDS if plan else 0.0,
        )  # fmt: skip

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
            logger.exception("could not upload the previews to s3://%s/%s", bucket, prefix)
            raise PublishFailed("could not upload the previews") from exc
        return keys

    def _delete_quietly(self, bucket: str, keys: list[str]) -> None:
        try:
            if keys:
                self.store.delete(bucket, keys)
        except Exception:
            logger.exception("could not delete previews %s from %s", keys, bucket)


def _metadata(
    config: TrainingConfig, settings: Settings, family: FamilyName, final_loss: float
) -> dict[str, Any]:
    """`metadata.json`, built with its one schema (so a training never stages what the publisher refuses)."""
    return ModelMetadata(
        model_id=config.model_id,
        training_id=config.training_id,
        owner=config.owner,
        model_name=config.model_name,
        token=config.token,
        instance_prompt=instance_text(config),
        class_prompt=config.class_prompt,
        class_noun=effective_class_noun(config),
        render_version=RENDER_VERSION,
        base_family=family,  # the base pipeline's (a config for another family was refused)
        base_model_id=config.base_model_id or settings.base_model,
        lora_rank=config.lora_rank,
        text_encoder_lora_rank=config.text_encoder_lora_rank if config.train_text_encoder else None,
        train_text_encoder=config.train_text_encoder,
        resolution=config.resolution,
        max_train_steps=config.max_train_steps,
        final_loss=final_loss,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    ).model_dump(mode="json")
