"""The CLI's progress: a bar on a terminal (a real pseudo-terminal), a throttled line per change otherwise."""

from __future__ import annotations

import argparse
import io
import os
import select
import sys
from typing import Any

import pytest

from avatar_client import cli
from avatar_client.progress import ProgressDisplay, describe, duration, fraction


def _progress(phase: str = "training", step: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "status": "queued",
        "progress": {
            "phase": phase,
            "step": step,
            "total_steps": 800,
            "loss": 0.1234,
            "elapsed_seconds": 65,
            "eta_seconds": 200,
            "updated": "2026-12-01T00:00:00+00:00",
            "queue_position": None,
            **extra,
        },
    }


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_describe_and_fraction() -> None:
    assert describe(_progress(step=120)) == "training step 120/800 loss 0.1234 ETA 3m20s (elapsed 1m05s)"
    queued = {"status": "queued", "progress": None}
    assert describe(queued, 5) == "queued, waiting for a training instance (5s)"
    class_images = describe(_progress("class_images", loss=None, eta_seconds=None))
    assert class_images == "class images step 0/800 (elapsed 1m05s)"
    assert "queue position 2" in describe(_progress(queue_position=2))
    assert fraction(_progress(step=200)["progress"]) == 0.25
    assert fraction(_progress("publishing", step=3)["progress"]) == 1.0
    assert duration(3723) == "1h02m03s" and duration(59.6) == "1m00s"


def test_the_default_stream_is_checked_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug: the check looked at the `stream` argument (None by default), never at sys.stderr."""
    monkeypatch.setattr(sys, "stderr", TtyStream())
    assert ProgressDisplay("training t-1").tty is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert ProgressDisplay("training t-1").tty is False


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode()


class _FakeClient:
    """`wait_for_training` as the SDK runs it: on_progress on each round, then the final status."""

    def __init__(self, rounds: list[dict[str, Any]]) -> None:
        self.rounds = rounds

    def wait_for_training(self, training_id: str, *, timeout: float, poll_interval: float, on_progress: Any):
        for n, status in enumerate(self.rounds):
            on_progress(status, float(n))
        return {"status": "completed", "training_id": training_id}


def test_the_cli_draws_a_bar_on_a_pseudo_terminal(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    master, replica = os.openpty()
    try:
        with open(replica, "w", closefd=True) as terminal:
            monkeypatch.setattr(sys, "stderr", terminal)
            rounds = [{"status": "queued", "progress": None}, _progress(step=400), _progress("previews", 800)]
            args = argparse.Namespace(timeout=60, poll_interval=1)
            assert cli._wait(_FakeClient(rounds), "t-1", args) == 0
            terminal.flush()
            shown = _read_all(master)
    finally:
        os.close(master)
    assert "\r| training t-1: queued, waiting for a training instance (0s)" in shown
    assert "\r[############............] training t-1: training step 400/800" in shown
    assert "ETA 3m20s" in shown and "\r[########################] training t-1: previews" in shown
    assert shown.endswith("\r\x1b[K")  # the bar is cleared when the training ends
    assert '"status": "completed"' in capsys.readouterr().out


def test_without_a_terminal_a_line_per_change_at_most_every_interval() -> None:
    stream = io.StringIO()
    now = [0.0]
    display = ProgressDisplay("training t-1", stream, min_interval=10, clock=lambda: now[0])
    assert display.tty is False
    for second, status in [
        (0, {"status": "queued", "progress": None}),
        (1, {"status": "queued", "progress": None}),  # no change: no line
        (2, _progress(step=10)),  # a new phase: its line at once
        (3, _progress(step=20)),  # changed, but within 10 s of the last line
        (13, _progress(step=30)),
        (14, _progress("previews", 800)),  # a new phase again
    ]:
        now[0] = second
        display(status, second)
    display.done()
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1].split(" (")[0].split(" loss")[0] for line in lines] == [
        "queued, waiting for a training instance",
        "training step 10/800",
        "training step 30/800",
        "previews step 800/800",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
