"""A training's deadline and cancellation: the messages, the connection probe, and who gets the instance."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from training_service.deadline import JobControl, denoising_callback, peer_closed
from training_service.errors import Busy, Cancelled, TimeBudgetExceeded
from training_service.service import TrainingService
from training_service.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_deadline_stops_with_the_steps_done() -> None:
    clock = Clock()
    control = JobControl(60, clock=clock)
    control.total_steps = 3000
    control.check(0)
    clock.now += 59.9
    control.check(1200)
    clock.now += 0.1
    with pytest.raises(TimeBudgetExceeded) as caught:
        control.check(1234)
    assert caught.value.reason.startswith("training exceeded its time budget (1234 of 3000 steps)")
    assert caught.value.status == 504
    with pytest.raises(TimeBudgetExceeded, match=r"\(1234 of 3000 steps\)"):
        denoising_callback(control.check)(None, 0, None, {})  # type: ignore[misc]


def test_a_closed_connection_cancels_at_the_next_check() -> None:
    gone = threading.Event()
    control = JobControl(3600, probe=gone.is_set)
    control.total_steps = 10
    control.check(3)
    assert not control.is_dead()
    gone.set()
    time.sleep(0.6)  # the probe runs at most every 0.5 s inside check()
    with pytest.raises(Cancelled, match=r"closed the connection.*\(4 of 10 steps\)"):
        control.check(4)


def test_peer_closed_sees_eof_but_not_silence_or_pipelined_data() -> None:
    ours, theirs = socket.socketpair()
    try:
        assert not peer_closed(ours)
        theirs.sendall(b"GET /ping HTTP/1.1\r\n\r\n")  # a pipelined request is not a disconnect
        assert not peer_closed(ours)
        ours.recv(100)
        theirs.close()
        assert peer_closed(ours)
    finally:
        ours.close()
    assert peer_closed(ours)  # closed here too: an error counts as gone


def _occupy(service: TrainingService, control: JobControl, release: threading.Event) -> threading.Thread:
    """Hold the service's instance with `control` as the running job until `release` is set."""

    def hold() -> None:
        service._acquire()
        service.current_control = control
        try:
            while not release.is_set() and not control.abandoned():
                time.sleep(0.05)
        finally:
            service.current_control = None
            service._lock.release()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    while not service.busy:
        time.sleep(0.01)
    return thread


def test_a_live_job_answers_busy_and_a_dead_one_gives_way(tmp_path: Path) -> None:
    service = TrainingService(Settings(cache_dir=tmp_path, cancel_grace_seconds=5))
    release = threading.Event()
    live = JobControl(3600)
    thread = _occupy(service, live, release)
    with pytest.raises(Busy):
        service._acquire()
    release.set()
    thread.join()

    gone = threading.Event()
    dead = JobControl(3600, probe=gone.is_set)
    thread = _occupy(service, dead, threading.Event())
    gone.set()  # its caller closed the connection
    started = time.monotonic()
    service._acquire()  # cancels the dead job and waits for it to stop
    assert time.monotonic() - started < 5
    assert "nobody waits" in dead.cancel_reason or "closed the connection" in dead.cancel_reason
    service._lock.release()
    thread.join()


def test_a_job_past_its_deadline_gives_way(tmp_path: Path) -> None:
    service = TrainingService(Settings(cache_dir=tmp_path, cancel_grace_seconds=5))
    expired = JobControl(0.01)
    thread = _occupy(service, expired, threading.Event())
    time.sleep(0.05)
    service._acquire()
    assert "nobody waits" in expired.cancel_reason
    service._lock.release()
    thread.join()


def test_the_budget_setting_comes_from_the_environment() -> None:
    assert Settings.from_env({}).time_budget_seconds == 3300
    assert Settings.from_env({"AVATAR_TRAINING_TIME_BUDGET_SECONDS": "90"}).time_budget_seconds == 90
    assert Settings.from_env({"AVATAR_TRAINING_CANCEL_ON_DISCONNECT": "false"}).cancel_on_disconnect is False


def test_the_projection_stops_when_one_more_step_and_the_scoring_no_longer_fit() -> None:
    from training_service.deadline import Projection

    now = [0.0]
    control = JobControl(100, clock=lambda: now[0])
    # checkpoints at 2, 4 and 6; 4 previews each at 1 s; 1 s to save and score; 10 s to publish
    projection = Projection(control, [2, 4, 6], 4, lambda step: 1.0, publish_seconds=10, checkpoint_seconds=1)
    assert projection.reserve(1, 5.0) == 1 * 5 + 10  # only the current step's adapter to score
    assert projection.reserve(4, 5.0) == 3 * 5 + 10  # steps 2 and 4 saved, plus the current one
    now[0] = 70.0  # 30 s left: a 5 s step + 25 s of scoring (steps 2, 4 and the current) fit
    assert not projection(4, 20.0)
    now[0] = 71.0  # 29 s left: no longer
    assert projection(4, 20.0) and projection.stopped_at == 4
    now[0] = 99.0  # before the first checkpoint there is nothing to publish: the deadline decides
    assert not projection(1, 5.0)
    alone = Projection(control, [6], 2, lambda step: 1.0)  # no checkpoints: half the steps first
    assert alone.min_steps == 3 and not alone(2, 5.0) and alone(3, 5.0)
