"""A training's progress as text: one line (`describe`) and a display that redraws it (`ProgressDisplay`).

The `progress` of `GET /trainings/{id}` (what the training container last wrote; docs/training.md,
"Progress") carries phase, step, total_steps, loss, elapsed_seconds, eta_seconds, updated and
queue_position. The CLI and `make demo` show it through this module. A pack job's progress (done/total
images, `describe_pack`, `PackProgressDisplay`) reuses the same bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, get_args

from avatar_contract.pack_jobs import PackJobStatus
from avatar_contract.progress import Phase
from avatar_contract.status import TrainingStatus

SPINNER = "|/-\\"
# The phases as words (`preparing_images` -> `preparing images`).
PHASE_NAMES = {phase: phase.replace("_", " ") for phase in get_args(Phase)}


def duration(seconds: float) -> str:
    """`1h02m03s`, `2m05s`, `42s`."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def fraction(progress: Mapping[str, Any]) -> float:
    """How far the training is, 0-1: the training steps; previews and publishing come after all of them."""
    if progress.get("phase") in ("previews", "publishing", "completed"):
        return 1.0
    total = progress.get("total_steps") or 0
    return min(max((progress.get("step") or 0) / total, 0.0), 1.0) if total else 0.0


def bar(done: float, width: int = 24) -> str:
    filled = round(done * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def describe(status: Mapping[str, Any], elapsed: float | None = None) -> str:
    """One line for a training's status document, e.g. `training step 120/800 loss 0.1234 ETA 3m20s`."""
    progress = status.get("progress")
    if not progress:
        text = str(status.get("status", TrainingStatus.QUEUED))
        if text == TrainingStatus.QUEUED:
            text = "queued, waiting for a training instance"
        return text if elapsed is None else f"{text} ({duration(elapsed)})"
    parts = [PHASE_NAMES.get(progress.get("phase", ""), str(progress.get("phase")))]
    if progress.get("queue_position") is not None:
        parts.append(f"queue position {progress['queue_position']}")
    if progress.get("total_steps"):
        parts.append(f"step {progress.get('step') or 0}/{progress['total_steps']}")
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("eta_seconds") is not None:
        parts.append(f"ETA {duration(progress['eta_seconds'])}")
    parts.append(f"(elapsed {duration(progress.get('elapsed_seconds') or 0)})")
    return " ".join(parts)


class ProgressDisplay:
    """On a terminal: a bar with the phase, step N/M and ETA, redrawn in place. Otherwise (logs, CI): a
    plain line whenever the progress changes, at most one per `min_interval` seconds (a new phase always
    gets its line). Call it as `wait_for_training`'s `on_progress`; `done()` clears the bar."""

    def __init__(
        self,
        label: str,
        stream: Any = None,
        *,
        min_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.min_interval = min_interval
        self._clock = clock
        self.ticks = 0
        self._last_key: tuple[Any, ...] | None = None
        self._last_phase: Any = None
        self._last_line = -float("inf")

    def __call__(self, status: Mapping[str, Any], elapsed: float) -> None:
        progress = status.get("progress") or {}
        if self.tty:
            head = bar(fraction(progress)) if progress else SPINNER[self.ticks % len(SPINNER)]
            self.stream.write(f"\r{head} {self.label}: {describe(status, elapsed)}\033[K")
            self.stream.flush()
            self.ticks += 1
            return
        key = (status.get("status"), progress.get("phase"), progress.get("step"))
        now = self._clock()
        new_phase = progress.get("phase") != self._last_phase
        if key != self._last_key and (new_phase or now - self._last_line >= self.min_interval):
            self.stream.write(f"{self.label}: {describe(status, elapsed)}\n")
            self.stream.flush()
            self._last_key, self._last_phase, self._last_line = key, progress.get("phase"), now

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def describe_pack(job: Mapping[str, Any], elapsed: float | None = None) -> str:
    """One line for a pack job, e.g. `running 5/16 images (4 ready, 1 withheld) (elapsed 1m05s)`."""
    total, done = job.get("total") or 0, job.get("done") or 0
    counts = [
        f"{job[key]} {word}"
        for key, word in (("succeeded", "ready"), ("blocked", "withheld"), ("failed", "failed"))
        if job.get(key)
    ]
    if job.get("cancelled"):
        counts.append(f"{job['cancelled']} cancelled")
    text = f"{job.get('status', PackJobStatus.QUEUED)} {done}/{total} images"
    if counts:
        text += f" ({', '.join(counts)})"
    return text if elapsed is None else f"{text} (elapsed {duration(elapsed)})"


class PackProgressDisplay:
    """A pack job's progress for `wait_for_pack`'s `on_progress`: on a terminal a bar of done/total
    redrawn in place; otherwise a plain line each time `done` or the status changes."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self._last_key: tuple[Any, ...] | None = None

    def __call__(self, job: Mapping[str, Any], elapsed: float) -> None:
        total = job.get("total") or 0
        if self.tty:
            done = (job.get("done") or 0) / total if total else 0.0
            self.stream.write(f"\r{bar(done)} {self.label}: {describe_pack(job, elapsed)}\033[K")
            self.stream.flush()
            return
        key = (job.get("status"), job.get("done"))
        if key != self._last_key:
            self.stream.write(f"{self.label}: {describe_pack(job, elapsed)}\n")
            self.stream.flush()
            self._last_key = key

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
