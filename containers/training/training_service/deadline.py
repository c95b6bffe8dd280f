"""One training's time budget and cancellation (`JobControl`), checked between steps of every phase.

SageMaker gives up on an async invocation after `InvocationTimeoutSeconds` and sends the next queued
job to the instance. A training must therefore stop on its own before that (the budget: `Settings.
time_budget_seconds`, from `avatar_contract.training_budget`), and a training whose caller has gone
must not hold the instance: the server gives each invocation a probe of its connection
(`peer_closed`), and a job whose peer closed is cancelled at its next check. When a new invocation
finds the instance busy with a job that is cancelled, disconnected or past its deadline, it cancels
that job and waits for it to stop (`Settings.cancel_grace_seconds`) instead of answering 429.

Checks run before each training step, each denoising step of the class images and previews, and
between phases; a stopped training publishes nothing.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable

from training_service.errors import Cancelled, TimeBudgetExceeded

_PROBE_INTERVAL = 0.5  # seconds between connection probes inside `check`


def peer_closed(connection: socket.socket) -> bool:
    """Whether the other end closed the connection (readable with no data: EOF, or an error)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or the socket is already closed here
        return True


class JobControl:
    """The deadline and the cancellation flag of one training."""

    def __init__(
        self,
        budget_seconds: float,
        probe: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_seconds = budget_seconds
        self.deadline = clock() + budget_seconds
        self._probe = probe
        self._clock = clock
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._last_probe = -float("inf")
        self.cancel_reason = ""
        self.total_steps = 0
        self.steps_done = 0

    def cancel(self, reason: str) -> None:
        with self._lock:
            if not self._cancelled.is_set():
                self.cancel_reason = reason
                self._cancelled.set()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative past it)."""
        return self.deadline - self._clock()

    @property
    def expired(self) -> bool:
        return self._clock() >= self.deadline

    def abandoned(self) -> bool:
        """Cancelled, or its caller has gone (probing the connection now)."""
        if not self._cancelled.is_set() and self._probe is not None and self._probe():
            self.cancel("the caller closed the connection (SageMaker gave up on the invocation)")
        return self._cancelled.is_set()

    def is_dead(self) -> bool:
        """Nobody will take this job's result: cancelled, disconnected or past its deadline."""
        return self.abandoned() or self.expired

    def check(self, steps_done: int | None = None) -> None:
        """Raise Cancelled or TimeBudgetExceeded when the training must stop (`steps_done` so far)."""
        if steps_done is not None:
            self.steps_done = steps_done
        now = self._clock()
        if now - self._last_probe >= _PROBE_INTERVAL:
            self._last_probe = now
            self.abandoned()
        progress = f"{self.steps_done} of {self.total_steps} steps"
        if self._cancelled.is_set():
            raise Cancelled(f"training cancelled: {self.cancel_reason} ({progress})")
        if now >= self.deadline:
            raise TimeBudgetExceeded(
                f"training exceeded its time budget ({progress}); the budget is {self.budget_seconds:.0f} s"
            )


def denoising_callback(check: Callable[[int | None], None] | None) -> Callable[..., dict] | None:
    """A diffusers `callback_on_step_end` that calls `check` between denoising steps."""
    if check is None:
        return None

    def callback(_pipe: object, _step: int, _timestep: object, kwargs: dict) -> dict:
        check(None)
        return kwargs

    return callback


class Projection:
    """Ends the training loop early when finishing it would overrun the budget (`train_lora`'s `stop`).

    After each step it projects what must still run once the loop ends: rendering and scoring every
    checkpoint saved so far plus the current step's adapter (`image_seconds` per preview, estimated from
    the measured step time: `avatar_contract.training_budget.render_seconds`), then packaging and
    publishing (`publish_seconds`). When one more step and that reserve no longer fit in the time left,
    the loop stops and the best checkpoint so far is published instead of nothing. It stops only once
    there is something worth publishing: a saved checkpoint (`checkpoint_steps[0]`), or half the steps
    when there is only the last one; before that the hard deadline fails the training as before."""

    def __init__(
        self,
        control: JobControl,
        checkpoint_steps: list[int],
        previews_per_checkpoint: int,
        image_seconds: Callable[[float], float],
        publish_seconds: float = 60.0,
        checkpoint_seconds: float = 5.0,
    ) -> None:
        self.control = control
        self.checkpoint_steps = checkpoint_steps
        self.previews = previews_per_checkpoint
        self.image_seconds = image_seconds
        self.publish_seconds = publish_seconds
        self.checkpoint_seconds = checkpoint_seconds
        self.stopped_at: int | None = None
        last = checkpoint_steps[-1]
        self.min_steps = checkpoint_steps[0] if len(checkpoint_steps) > 1 else -(-last // 2)

    def reserve(self, done: int, step_seconds: float) -> float:
        """Seconds needed after the loop if it stopped after `done` steps."""
        saved = sum(1 for step in self.checkpoint_steps[:-1] if step <= done)
        per_checkpoint = self.previews * self.image_seconds(step_seconds) + self.checkpoint_seconds
        return (saved + 1) * per_checkpoint + self.publish_seconds

    def __call__(self, done: int, loop_seconds: float) -> bool:
        if done < self.min_steps:
            return False
        step_seconds = loop_seconds / max(done, 1)
        left = self.control.remaining()
        if left >= step_seconds + self.reserve(done, step_seconds):
            return False
        self.stopped_at = done
        return True
