"""Why a training failed, as exceptions that carry the HTTP status the service answers with.

Every failure the service reports is one of these; anything else is an internal error (500). The reason
is written for the person who submitted the selfies: it names the file, field or limit at fault.
"""

from __future__ import annotations

from typing import Any


class TrainingError(Exception):
    """A training that cannot complete; `reason` is user-facing, `status` is the HTTP status."""

    status: int = 500  # a subclass names its own in its header: `class Busy(TrainingError, status=429)`

    def __init_subclass__(cls, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(self, reason: str, training_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.training_id = training_id  # set once config.json has been read


class InvalidInput(TrainingError, status=400):
    """The input archive or its `config.json` is unusable (bad member, limit exceeded, bad field)."""


class TooLarge(InvalidInput, status=413):
    """The request body or archive content is over a size limit."""


class NotEnoughImages(TrainingError, status=422):
    """Fewer usable images than `min_usable_images` (no face, unreadable, too large)."""


class TrainingDiverged(TrainingError, status=500):
    """The loss became NaN or infinite."""


class PublishFailed(TrainingError, status=502):
    """The model artifact or the previews could not be uploaded."""


class Busy(TrainingError, status=429):
    """Another training is running on this instance."""


class GpuUnavailable(TrainingError, status=503):
    """The instance has a GPU that torch cannot use (driver too old for torch's CUDA, or a CPU torch):
    the service refuses to train on the CPU instead (`Settings.expect_gpu`)."""


class TimeBudgetExceeded(TrainingError, status=504):
    """The training would outlive its time budget (SageMaker's invocation timeout minus a margin): it
    stopped and published nothing."""


class Cancelled(TrainingError, status=499):
    """The training was stopped because its caller has gone (nobody would receive its result).
    499: "client closed request" (nginx's code); nobody reads it, the logs do."""


class WrongFamily(TrainingError, status=409):
    """The config was validated for another base family than the one this instance trains (409)."""
