"""The request deadline and the response-size bound of the engine (hosting_server.deadline), in-process
on the tiny pipeline."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hosting_server import deadline as deadline_module
from hosting_server.deadline import (
    DEADLINE_ARG,
    DeadlineExceededError,
    ResponseTooLargeError,
    encode_within_limit,
    split_deadline,
)
from hosting_server.engine import BaseModelEngine, InvalidRequestError, parse_gen_args

pytestmark = pytest.mark.slow


def test_the_deadline_is_split_off_before_gen_args_are_checked() -> None:
    rest, deadline = split_deadline(json.dumps({"seed": 3, DEADLINE_ARG: 1234.5}))
    assert deadline == 1234.5 and parse_gen_args(rest).seed == 3
    assert split_deadline('{"seed": 3}') == ('{"seed": 3}', None)
    assert split_deadline(None) == (None, None)
    assert split_deadline("{not json") == ("{not json", None)  # parse_gen_args reports it
    assert split_deadline({DEADLINE_ARG: "soon"}) == ({}, None)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> BaseModelEngine:
    return BaseModelEngine(tiny_model_dir)


def test_a_request_whose_caller_has_gone_is_not_rendered(engine: BaseModelEngine) -> None:
    args = parse_gen_args({"num_inference_steps": 2, "seed": 1})
    with pytest.raises(DeadlineExceededError, match="before rendering"):
        engine.generate("a photo", "", args, deadline=time.time() - 1)


def test_rendering_stops_at_the_first_step_past_the_deadline(
    engine: BaseModelEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(float(t) for t in range(1000))

    class Clock:
        @staticmethod
        def time() -> float:
            return next(ticks)  # one second per check: before rendering at 0, step 1 at 1, ...

    monkeypatch.setattr(deadline_module, "time", Clock)
    args = parse_gen_args({"num_inference_steps": 10, "seed": 1})
    with pytest.raises(DeadlineExceededError, match="at step 4 of 10"):
        engine.generate("a photo", "", args, deadline=3.5)


def test_a_deadline_in_time_changes_nothing(engine: BaseModelEngine) -> None:
    args = parse_gen_args({"num_inference_steps": 2, "seed": 7})
    assert engine.generate("a photo", "", args, deadline=time.time() + 600) == engine.generate(
        "a photo", "", args
    )


def noise(side: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_jpeg_answers_step_their_quality_down_until_they_fit() -> None:
    images = [noise(256, seed) for seed in range(2)]
    full = sum(len(base64.b64encode(b)) for b in encode_within_limit(images, "jpeg", limit=10**9))
    fitted = encode_within_limit(images, "jpeg", limit=int(full * 0.7))
    assert sum(len(base64.b64encode(b)) for b in fitted) <= full * 0.7
    assert all(Image.open(io.BytesIO(b)).format == "JPEG" for b in fitted)


def test_answers_that_cannot_fit_are_refused_with_the_sizes() -> None:
    with pytest.raises(ResponseTooLargeError, match="or output_format jpeg"):
        encode_within_limit([noise(256)], "png", limit=1000)
    with pytest.raises(ResponseTooLargeError, match="the response limit is 1,000"):
        encode_within_limit([noise(256)], "jpeg", limit=1000)


def test_the_engine_refuses_an_answer_over_the_limit_as_a_client_error(
    engine: BaseModelEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "hosting_server.engine.encode_within_limit",
        lambda images, fmt: deadline_module.encode_within_limit(images, fmt, limit=10),
    )
    with pytest.raises(InvalidRequestError, match="response limit"):
        engine.generate("a photo", "", parse_gen_args({"num_inference_steps": 1, "seed": 1}))
