"""The local cloud as a list of components: each one a name, a `start` and a `stop`, and the names of the
components it needs. `Components.start` starts every component as soon as those it needs are up, so
independent ones (moto, the two containers, the stand-ins) start concurrently; `Components.stop` stops the
started ones in the reverse of the list's order, each promptly (no component waits out a timeout to stop).

The list's order is the one start order (a component may only name earlier ones in `after`), and its
reverse the one stop order. Adding a part to the local cloud is one more entry in
`LocalCloud._components` (docs/local-cloud.md "Components").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Component:
    """One part of the local cloud. `start` returns once the part serves (a container: once healthy);
    `stop` must return promptly (a server shut down, a thread joined with a short bounded wait, a process
    terminated then killed) and must cope with a `start` that failed midway."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], None] = _nothing
    after: tuple[str, ...] = ()  # the components that must be up before this one starts


class Components:
    """Starts and stops a list of `Component`s. `started_in` holds each start's duration and `started_at`
    when it began, after `start()` was called (seconds): together the critical path of a start-up."""

    def __init__(self, components: list[Component], max_parallel: int = 8) -> None:
        seen: set[str] = set()
        for component in components:
            if component.name in seen:
                raise ValueError(f"two components named {component.name!r}")
            unknown = set(component.after) - seen
            if unknown:
                raise ValueError(f"{component.name!r} comes after {sorted(unknown)}, not listed before it")
            seen.add(component.name)
        self.components = components
        self.max_parallel = max_parallel
        self.started_in: dict[str, float] = {}
        self.started_at: dict[str, float] = {}
        self._began = 0.0
        self._tried: set[str] = set()  # every component whose start ran (or runs): stop() stops it

    def start(self) -> None:
        """Start each component once those it comes after are up. On the first failure no further
        component starts; the starts under way finish, then the failure is raised (`stop()` cleans up)."""
        self._began = time.monotonic()
        pending, up = list(self.components), set[str]()
        running: dict[Future[None], Component] = {}
        error: BaseException | None = None
        with ThreadPoolExecutor(self.max_parallel, thread_name_prefix="local-cloud-start") as pool:
            while pending or running:
                if error is None:
                    for component in [c for c in pending if set(c.after) <= up]:
                        pending.remove(component)
                        self._tried.add(component.name)
                        running[pool.submit(self._start_one, component)] = component
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    component = running.pop(future)
                    exc = future.exception()
                    if exc is None:
                        up.add(component.name)
                    elif error is None:
                        error = exc
        if error is not None:
            raise error

    def _start_one(self, component: Component) -> None:
        started = time.monotonic()
        self.started_at[component.name] = started - self._began
        component.start()
        self.started_in[component.name] = time.monotonic() - started
        log.info("started %s in %.2f s", component.name, self.started_in[component.name])

    def stop(self) -> None:
        """Stop every component whose start ran, in the reverse of the list's order; a failing stop is
        logged and the others still run. Safe to call twice."""
        for component in reversed(self.components):
            if component.name not in self._tried:
                continue
            self._tried.discard(component.name)
            started = time.monotonic()
            try:
                component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
            log.info("stopped %s in %.2f s", component.name, time.monotonic() - started)
