"""Content moderation: the latency the API's moderation adds to a generation, measured against the local
STAND-INS (local_cloud.moderation) with the API's own `Moderator` and real boto3 clients (SigV4 signing,
HTTP on 127.0.0.1, the stand-in's image decoding). The stand-ins do no model inference, so this is the
client side's share; the in-region AWS estimate is an assumption of the cost model (benchmarks/cost.py).
"""

from __future__ import annotations

import base64
import io
import random
import time

from benchmarks.common import Figure, Result, Stats

NAME = "moderation"
PROMPT = "a portrait photo of <<TOK>> as an astronaut on the moon, studio lighting, 85 mm, detailed " * 4


def _png(seed: int, size: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.frombytes("RGB", (size, size), bytes(rng.getrandbits(8) for _ in range(size * size * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _samples(call, count: int) -> Stats:
    call()  # warm: connection, botocore's loaded models
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return Stats(samples)


def run(toy: bool = False) -> Result:
    import boto3

    from avatar_api.adapters.moderation_aws import ModerationClients
    from avatar_api.domain.moderation import Moderator, withhold_blocked
    from avatar_contract.moderation import ModerationPolicy
    from local_cloud.cloud import new_principal
    from local_cloud.moderation import ModerationStandIns

    count = 5 if toy else 100
    size = 64 if toy else 512  # the generated image's side (PNG of noise: the worst case for size)
    result = Result(NAME, "Content moderation: latency added per generation (local stand-ins)", toy)
    result.settings = {
        "requests": count,
        "prompt_chars": len(PROMPT),
        "image": f"{size}x{size} PNG",
        "path": "Moderator -> boto3 (SigV4) -> local stand-ins on 127.0.0.1 (no inference)",
    }
    principal = new_principal("bench-moderation")
    stand_ins = ModerationStandIns("us-east-1", {principal.access_key_id: principal})
    stand_ins.start()
    try:
        session = boto3.session.Session(
            aws_access_key_id=principal.access_key_id,
            aws_secret_access_key=principal.secret_access_key,
            region_name="us-east-1",
        )
        clients = ModerationClients(
            session.client("comprehend", endpoint_url=stand_ins.url),
            session.client("rekognition", endpoint_url=stand_ins.url),
            ssm=None,  # no deny list: its SSM read is cached for a minute, so it is off the hot path
        )
        moderator = Moderator(ModerationPolicy(), clients, lambda _name: None)
        encoded = [base64.b64encode(_png(seed, size)).decode() for seed in range(4)]

        def prompt_and(images: int):
            def call() -> None:
                moderator.check_prompts([PROMPT])
                withhold_blocked(moderator, encoded[:images])

            return call

        prompt = _samples(lambda: moderator.check_prompts([PROMPT]), count)
        result.add(Figure("prompt", "latency, median", "ms", prompt, note=f"{count} requests"))
        for images in (1, 4):
            stats = _samples(prompt_and(images), count)
            case = f"prompt + {images} image{'s' if images > 1 else ''}"
            result.add(Figure(case, "latency, median", "ms", stats, note=f"{count} requests"))
            result.add(Figure(case, "latency p95", "ms", Stats([stats.quantile(0.95)])))
    finally:
        stand_ins.stop()
    result.notes.append(
        "The stand-ins answer from a keyword list and a PNG marker, so Comprehend's and Rekognition's own "
        "inference time is not in these figures; benchmarks/cost.py assumes ~0.4 s in-region."
    )
    return result
