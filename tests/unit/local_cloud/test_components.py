"""`Components`: the local cloud's one start order (each component once those it needs are up, the
independent ones concurrently) and its reverse as the stop order, also after a failed start."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from local_cloud.components import Component, Components


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def component(
        self, name: str, after: tuple[str, ...] = (), seconds: float = 0.0, fail: bool = False
    ) -> Component:
        def start() -> None:
            time.sleep(seconds)
            if fail:
                raise RuntimeError(f"{name} failed")
            with self._lock:
                self.events.append(f"start {name}")

        def stop() -> None:
            with self._lock:
                self.events.append(f"stop {name}")

        return Component(name, start, stop, after)


def test_independent_components_start_concurrently_and_dependents_wait() -> None:
    recorder = Recorder()
    together = threading.Barrier(3, timeout=10)  # passed only if a, b and c start at the same time

    def meet(name: str) -> Component:
        def start() -> None:
            together.wait()
            recorder.events.append(f"start {name}")

        return Component(name, start)

    components = Components([meet("a"), meet("b"), meet("c"), recorder.component("d", after=("a", "b"))])
    components.start()
    order = recorder.events.index
    assert order("start d") > max(order("start a"), order("start b"))
    assert set(components.started_in) == {"a", "b", "c", "d"}


def test_stop_runs_in_the_reverse_of_the_list() -> None:
    recorder = Recorder()
    components = Components(
        [recorder.component("a"), recorder.component("b", ("a",)), recorder.component("c")]
    )
    components.start()
    recorder.events.clear()
    components.stop()
    assert recorder.events == ["stop c", "stop b", "stop a"]
    components.stop()  # a second stop stops nothing again
    assert recorder.events == ["stop c", "stop b", "stop a"]


def test_a_failed_start_starts_nothing_after_it_and_stop_cleans_up_what_ran() -> None:
    recorder = Recorder()
    components = Components(
        [
            recorder.component("a"),
            recorder.component("slow", seconds=0.3),
            recorder.component("broken", ("a",), fail=True),
            recorder.component("after broken", ("broken",)),
        ]
    )
    with pytest.raises(RuntimeError, match="broken failed"):
        components.start()
    assert "start slow" in recorder.events  # a start under way finishes before the failure is raised
    assert "start after broken" not in recorder.events
    recorder.events.clear()
    components.stop()
    assert recorder.events == ["stop broken", "stop slow", "stop a"]  # its own stop copes with a half start


def test_a_component_may_only_come_after_earlier_ones() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="not listed before it"):
        Components([recorder.component("a", ("b",)), recorder.component("b")])
    with pytest.raises(ValueError, match="two components"):
        Components([recorder.component("a"), recorder.component("a")])


def test_each_start_records_when_it_began_and_how_long_it_took() -> None:
    recorder = Recorder()
    components = Components(
        [
            recorder.component("slow", seconds=0.2),
            recorder.component("beside"),
            recorder.component("after slow", ("slow",)),
        ]
    )
    components.start()
    began, took = components.started_at, components.started_in
    assert began["slow"] < 0.1 and began["beside"] < 0.1  # both at once, at the start
    assert took["slow"] >= 0.2
    assert began["after slow"] >= began["slow"] + took["slow"]  # the critical path: one after the other


def test_the_local_cloud_starts_the_slowest_first_and_its_lambda_sandboxes_once_the_containers_are_up(
    tmp_path: Path,
) -> None:
    from local_cloud.cloud import LocalCloud

    components = {c.name: c for c in LocalCloud(state_dir=tmp_path).components.components}
    order = list(components)
    assert order.index("hosting container") < order.index("training container")  # Triton: the slowest
    assert {"hosting container", "training container"} <= set(components["lambda sandboxes"].after)
