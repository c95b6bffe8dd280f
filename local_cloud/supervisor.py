"""What SageMaker does when a container dies: it starts it again (a new container on the instance, from
a clean filesystem) and sends requests only once it answers /ping. The local cloud's containers are
processes; this thread watches them and restarts one that exited while the cloud runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Watched:
    name: str
    exited: Callable[[], bool]
    restart: Callable[[], None]  # returns once the container is healthy again
    restarts: int = 0


class Supervisor:
    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self._watched: list[Watched] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="container-supervisor", daemon=True)

    def watch(self, name: str, exited: Callable[[], bool], restart: Callable[[], None]) -> None:
        self._watched.append(Watched(name, exited, restart))

    def restarts(self, name: str) -> int:
        return sum(w.restarts for w in self._watched if w.name == name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the containers are stopped, so that none is restarted)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()  # a restart under way finishes first (start-up has its own timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for watched in self._watched:
                if self._stop.is_set() or not watched.exited():
                    continue
                log.warning("%s container exited; starting it again", watched.name)
                try:
                    watched.restart()
                    watched.restarts += 1
                    log.info("%s container restarted", watched.name)
                except Exception:
                    log.exception("restarting the %s container failed", watched.name)
