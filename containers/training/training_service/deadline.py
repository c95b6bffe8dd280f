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
