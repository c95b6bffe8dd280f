"""The progress object of the running training (`avatar_contract.progress`), written to S3 as it goes.

`ProgressReporter` keeps the phase, the step, the last loss and the measured step rate, and hands a
snapshot to a background writer at every phase change, at the end, and otherwise at most every
`interval` seconds. The writer keeps only the newest snapshot, so a slow S3 never holds the training
loop up, and a failed write is logged and dropped: progress never fails a training. The object takes
the data bucket's default encryption (no SSE override, as every upload of `S3Store`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from avatar_contract.progress import Phase, TrainingProgress

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 5.0  # at most one write per this many seconds within a phase
_CLOSE_TIMEOUT_SECONDS = 10.0  # how long the end of a training waits for its last write


class _LatestWriter:
    """A thread that writes the newest submitted snapshot (older pending ones are dropped)."""

    def __init__(self, write: Callable[[TrainingProgress], None]) -> None:
        self._write = write
        self._pending: TrainingProgress | None = None
        self._closed = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="progress-writer", daemon=True)
        self._thread.start()

    def submit(self, progress: TrainingProgress) -> None:
        with self._condition:
            self._pending = progress
            self._condition.notify()

    def close(self, timeout: float) -> None:
        """Write what is pending, then stop (waiting at most `timeout` seconds)."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                progress, self._pending = self._pending, None
            if progress is None:
                return
            try:
                self._write(progress)
            except Exception:  # progress is advisory: never fail (or stall) the training for it
                logger.warning("could not write the training's progress", exc_info=True)


class ProgressReporter:
    """The progress of one training, written through `write` (e.g. an S3 put of the progress key)."""

    def __init__(
        self,
        write: Callable[[TrainingProgress], None],
        total_steps: int,
        *,
        started: float | None = None,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._started = clock() if started is None else started
        self._interval = interval
        self._writer = _LatestWriter(write)
        self._last_submit = -float("inf")
        self._rate_from: tuple[int, float] | None = None  # (step, time) the step rate is measured from
        self.phase: Phase = "preparing_images"
        self.total_steps = total_steps
        self.step = 0
        self.loss: float | None = None
        self.eta_seconds: float | None = None

    def enter(self, phase: Phase) -> None:
        """A new phase begins (written at once)."""
        self.phase = phase
        if phase != "training":
            self.eta_seconds = None
        self._submit()

    def on_step(self, done: int, loss: float) -> None:
        """A training step finished (`done` steps so far); written when `interval` has passed."""
        now = self._clock()
        self.step, self.loss = done, loss
        if self._rate_from is None:
            # the first step carries the warm-up (allocations, kernel selection): measure from after it
            self._rate_from = (done, now)
        else:
            first_step, first_time = self._rate_from
            if done > first_step:
                per_step = (now - first_time) / (done - first_step)
                self.eta_seconds = round(max(self.total_steps - done, 0) * per_step, 1)
        if now - self._last_submit >= self._interval:
            self._submit()

    def finish(self, phase: Phase) -> None:
        """The training ended (`completed` or `failed`): write the last state and stop the writer."""
        self.phase = phase
        self.eta_seconds = 0.0 if phase == "completed" else None
        self._submit()
        self._writer.close(_CLOSE_TIMEOUT_SECONDS)

    def snapshot(self) -> TrainingProgress:
        return TrainingProgress(
            phase=self.phase,
            step=self.step,
            total_steps=self.total_steps,
            loss=self.loss,
            elapsed_seconds=round(max(self._clock() - self._started, 0.0), 1),
            eta_seconds=self.eta_seconds,
            updated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )

    def _submit(self) -> None:
        self._last_submit = self._clock()
        try:
            self._writer.submit(self.snapshot())
        except Exception:  # e.g. a NaN that slipped through: still never fail the training
            logger.warning("could not record the training's progress", exc_info=True)
