"""Class images for prior preservation on a training instance that scaled up from zero: generated with
the base model (what the reference design did for every training) against read from the S3 class-image
cache (`training_service.class_images`, keyed by base model, class prompt, resolution, count, seed and
sampling steps), with the tiny model.

Each round uses a new seed (a new cache key): the reference generation, then what our cache miss adds
to it (keeping and uploading those images), then a fresh instance's read from S3 (a new cache directory),
then a local-cache hit. S3 is moto in this process: no network, so a real bucket adds per-object
latency (about 50 PNGs of a few hundred KB at 512 px) that this figure does not include.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar_contract.training import TrainingHyperparameters
from avatar_runtime.rendering import DEFAULT_STEPS
from benchmarks.common import Figure, Result, Stats, timed

NAME = "class_images"
RESOLUTION = 64  # the tiny model's
BUCKET = "bench-data"


def _aws_env() -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )


def _refuse() -> list[Any]:
    raise AssertionError("the cache should have answered")


def _round(
    work: Path, base: Path, store: Any, prompt: str, count: int, steps: int, seed: int, generate: Callable
) -> dict[str, float]:
    """One new cache key (the round's class prompt; the key has no seed): the reference generation, the
    cost our miss adds to it (keep + upload the same images), a fresh instance's read from S3, then a
    local hit."""
    from training_service.class_images import cached_class_images

    args = (str(base), f"{prompt} {seed}", RESOLUTION, count, steps)
    miss_dir, fresh_dir = work / f"miss-{seed}", work / f"fresh-{seed}"
    found: dict[str, float] = {}
    found["reference"], images = timed(lambda: generate(seed))
    found["miss"] = timed(
        lambda: cached_class_images(miss_dir, *args, lambda: images, store=store, bucket=BUCKET)
    )[0]
    found["s3"], read = timed(
        lambda: cached_class_images(fresh_dir, *args, _refuse, store=store, bucket=BUCKET)
    )
    assert len(read) == count
    found["local"] = timed(
        lambda: cached_class_images(fresh_dir, *args, _refuse, store=store, bucket=BUCKET)
    )[0]
    return found


def run(toy: bool) -> Result:
    import boto3
    from moto import mock_aws

    from random_sd import ensure_tiny_pipeline
    from training_service.storage import S3Store
    from training_service.trainer import generate_class_images

    defaults = TrainingHyperparameters()
    count = 2 if toy else defaults.num_class_images
    steps = 2 if toy else DEFAULT_STEPS  # the training service's default sampling steps
    rounds = 1 if toy else 2
    prompt = defaults.class_prompt
    settings = {"count": count, "sample_steps": steps, "resolution": RESOLUTION, "rounds": rounds}
    result = Result(
        NAME, "Class images on a fresh instance: generated vs read from the S3 cache", toy, settings
    )
    samples: dict[str, list[float]] = {"reference": [], "miss": [], "s3": [], "local": []}
    _aws_env()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp, mock_aws():
        work = Path(tmp)
        base = ensure_tiny_pipeline(work / "tiny")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        store = S3Store(s3)

        def generate(seed: int) -> list[Any]:
            return generate_class_images(base, f"{prompt} {seed}", count, RESOLUTION, "cpu", steps=steps)

        generate_class_images(base, prompt, 1, RESOLUTION, "cpu", steps=steps)  # warm-up, untimed
        for seed in range(rounds):
            for name, seconds in _round(work, base, store, prompt, count, steps, seed, generate).items():
                samples[name].append(seconds)

    case = f"tiny {RESOLUTION}px, {count} images, {steps} steps"
    result.add(
        Figure(
            case,
            "class images on a fresh instance",
            "s",
            ours=Stats(samples["s3"]),
            reference=Stats(samples["reference"]),
            note="ours: read from the S3 cache (moto, no network); reference: generated with the base model",
        )
    )
    result.add(
        Figure(
            case,
            "added to a cache miss (keep + upload)",
            "s",
            ours=Stats(samples["miss"]),
            note="on top of the generation: save the PNGs locally and upload them with their index",
        )
    )
    result.add(Figure(case, "same instance again (local cache)", "s", ours=Stats(samples["local"])))
    result.notes.append(
        "The tiny model renders in milliseconds per step; with SD 2.1-base on a GPU, generating 200 images "
        "at 512 px and 25 steps takes minutes, while reading them stays at S3 transfer time."
    )
    return result
