"""The training's progress object: throttled writes, ETA from the step rate, never a failed training."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest

from avatar_contract.progress import TrainingProgress
from training_service import progress as progress_module
from training_service.progress import ProgressReporter, _LatestWriter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _SyncWriter:
    """Writes every submitted snapshot at once (the reporter's throttle, without the thread's coalescing)."""

    def __init__(self, write: Callable[[TrainingProgress], None]) -> None:
        self.write = write

    def submit(self, progress: TrainingProgress) -> None:
        self.write(progress)

    def close(self, timeout: float) -> None:
        pass


@pytest.fixture
def sync_writes(monkeypatch: pytest.MonkeyPatch) -> list[TrainingProgress]:
    monkeypatch.setattr(progress_module, "_LatestWriter", _SyncWriter)
    return []


def test_writes_are_throttled_but_phases_and_the_end_always_written(
    sync_writes: list[TrainingProgress],
) -> None:
    clock = Clock()
    reporter = ProgressReporter(sync_writes.append, 100, started=clock.now - 3, interval=5, clock=clock)
    reporter.enter("preparing_images")
    reporter.enter("training")
    for step in range(1, 101):
        clock.now += 0.5  # 100 steps in 50 s: one write per 5 s at most
        reporter.on_step(step, 1.0 / step)
    reporter.enter("previews")
    reporter.enter("publishing")
    reporter.finish("completed")

    phases = [p.phase for p in sync_writes]
    assert phases[:2] == ["preparing_images", "training"]
    assert phases[-3:] == ["previews", "publishing", "completed"]
    step_writes = [p for p in sync_writes if p.phase == "training"][1:]
    assert 9 <= len(step_writes) <= 10  # 50 s at one per 5 s, not one per step
    assert [p.step for p in step_writes] == sorted(p.step for p in step_writes)
    last = sync_writes[-1]
    assert (last.step, last.total_steps, last.loss) == (100, 100, 0.01)
    assert last.elapsed_seconds == 53.0 and last.eta_seconds == 0.0
    assert dt.datetime.fromisoformat(last.updated).utcoffset() == dt.timedelta(0)


def test_eta_follows_the_measured_step_rate_after_the_first_step(
    sync_writes: list[TrainingProgress],
) -> None:
    clock = Clock()
    reporter = ProgressReporter(sync_writes.append, 10, interval=0, clock=clock)
    reporter.enter("training")
    clock.now += 30  # the first step carries the warm-up: not part of the rate
    reporter.on_step(1, 0.5)
    assert sync_writes[-1].eta_seconds is None  # not known yet
    clock.now += 4
    reporter.on_step(3, 0.4)  # 2 s per step, 7 steps left
    assert sync_writes[-1].eta_seconds == 14.0
    reporter.enter("previews")
    assert sync_writes[-1].eta_seconds is None and sync_writes[-1].step == 3


def test_a_failed_training_ends_failed(sync_writes: list[TrainingProgress]) -> None:
    reporter = ProgressReporter(sync_writes.append, 10)
    reporter.enter("class_images")
    reporter.finish("failed")
    assert [p.phase for p in sync_writes] == ["class_images", "failed"]
    assert sync_writes[-1].eta_seconds is None


def test_write_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []

    def failing(progress: TrainingProgress) -> None:
        attempts.append(progress.phase)
        raise ConnectionError("S3 is down")

    reporter = ProgressReporter(failing, 5, interval=0)
    reporter.enter("training")
    reporter.on_step(1, 0.3)
    reporter.finish("completed")  # returns: progress never fails a training
    assert attempts and attempts[-1] == "completed"
    assert "could not write the training's progress" in caplog.text


def test_a_slow_write_never_holds_the_training_up_and_only_the_newest_is_written() -> None:
    release = threading.Event()
    written: list[TrainingProgress] = []

    def slow(progress: TrainingProgress) -> None:
        release.wait(10)
        written.append(progress)

    reporter = ProgressReporter(slow, 1000, interval=0)
    reporter.enter("training")
    for step in range(1, 1001):  # every step submitted while the first write hangs
        reporter.on_step(step, 0.1)
    release.set()
    reporter.finish("completed")
    assert written[-1].phase == "completed" and written[-1].step == 1000
    assert len(written) <= 3  # the first, perhaps one coalesced step, the end: not 1000 writes


def test_the_writer_writes_what_is_pending_when_closed() -> None:
    written: list[str] = []
    writer = _LatestWriter(lambda p: written.append(p.phase))
    snapshot = TrainingProgress(phase="publishing", updated="2026-12-01T00:00:00+00:00")
    writer.submit(snapshot)
    writer.submit(snapshot.model_copy(update={"phase": "completed"}))
    writer.close(5)
    assert written[-1] == "completed" and set(written) <= {"publishing", "completed"}
