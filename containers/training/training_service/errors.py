"""Why a training failed, as exceptions that carry the HTTP status the service answers with.

Every failure the service reports is one of these; anything else is an internal error (500). The reason
is written for the person who submitted the selfies: it names the file, field or limit at fault.
"""

from __future__ import annotations


class TrainingError(Exception):
    """A training that cannot complete; `reason` is user-facing, `status` is the HTTP status."""

    status: int = 500

    def __init__(self, reason: str, training_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.training_id = training_id  # set once config.json has been read


class InvalidInput(TrainingError):
    """The input archive or its `config.json` is unusable (bad member, limit exceeded, bad field)."""

    status = 400


class TooLarge(InvalidInput):
    """The request body or archive content is over a size limit."""

    status = 413


class NotEnoughImages(TrainingError):
    """Fewer usable images than `min_usable_images` (no face, unreadable, too large)."""

    status = 422


class TrainingDiverged(TrainingError):
    """The loss became NaN or infinite."""

    status = 500


class PublishFailed(TrainingError):
    """The model artifact or the previews could not be uploaded."""

    status = 502


class Busy(TrainingError):
    """Another training is running on this instance."""

    status = 429


class GpuUnavailable(TrainingError):
    """The instance has a GPU that torch cannot use (driver too old for torch's CUDA, or a CPU torch):
    the service refuses to train on the CPU instead (`Settings.expect_gpu`)."""

    status = 503


class TimeBudgetExceeded(TrainingError):
    """The training would outlive its time budget (SageMaker's invocation timeout minus a margin): it
    stopped and published nothing."""

    status = 504


class Cancelled(TrainingError):
    """The training was stopped because its caller has gone (nobody would receive its result).
    499: "client closed request" (nginx's code); nobody reads it, the logs do."""

    status = 499


class WrongFamily(TrainingError):
    """The config was validated for another base family than the one this instance trains (409)."""

    status = 409
