"""The local cloud's container supervisor: a container that exited is started again, once per exit, and
nothing is restarted after `stop()`."""

from __future__ import annotations

import threading
import time

from local_cloud.supervisor import Supervisor


def test_an_exited_container_is_restarted_once_and_not_after_stop() -> None:
    alive = threading.Event()
    alive.set()
    restarted = threading.Event()

    def restart() -> None:
        alive.set()
        restarted.set()

    supervisor = Supervisor(interval_s=0.01)
    supervisor.watch("training", lambda: not alive.is_set(), restart)
    supervisor.start()
    try:
        time.sleep(0.05)
        assert supervisor.restarts("training") == 0  # running: left alone
        alive.clear()  # the container dies
        assert restarted.wait(5)
        time.sleep(0.05)
        assert supervisor.restarts("training") == 1
    finally:
        supervisor.stop()
    alive.clear()
    time.sleep(0.05)
    assert supervisor.restarts("training") == 1  # stopped: no restart


def test_a_failed_restart_is_tried_again() -> None:
    attempts: list[int] = []

    def restart() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("port still in use")

    supervisor = Supervisor(interval_s=0.01)
    supervisor.watch("hosting", lambda: len(attempts) < 3, restart)
    supervisor.start()
    deadline = time.monotonic() + 5
    while len(attempts) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    supervisor.stop()
    assert len(attempts) == 3 and supervisor.restarts("hosting") == 1
