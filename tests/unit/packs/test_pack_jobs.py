"""The pack jobs contract (avatar_contract.pack_jobs, keys): the request's rules, the final status rule,
job ids that sort newest first, and the runner's backoff."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from avatar_api.domain.pack_runner import backoff_seconds
from avatar_contract import keys
from avatar_contract.pack_jobs import MAX_PACK_IMAGES, PackJobRequest, PackJobStatus, final_status

PROMPT = {"prompt": "<<TOK>> as an astronaut", "images": 4}


def test_job_ids_sort_newest_first() -> None:
    older, newer = keys.new_pack_job_id(1_800_000_000_000), keys.new_pack_job_id(1_800_000_000_001)
    assert newer < older
    assert keys.PACK_JOB_ID_RE.fullmatch(older) and keys.PACK_JOB_ID_RE.fullmatch(newer)
    assert keys.pack_job_prefix("a" * 32, "m-" + "a" * 20, older).endswith(f"/packs/{older}/")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pack": "astronaut", "prompts": [PROMPT]},
        {"pack": "astronaut", "negative_prompt": "x"},
        {"prompts": [PROMPT] * 26},  # 104 images
        {"prompts": [PROMPT], "images_per_prompt": 17},
        {"prompts": [{**PROMPT, "gen_args": {"seed": 3}}]},  # the job chooses seeds
        {"prompts": [PROMPT], "surprise": True},
    ],
)
def test_invalid_requests(body: dict) -> None:
    with pytest.raises(ValidationError):
        PackJobRequest.model_validate(body)


def test_valid_requests() -> None:
    assert PackJobRequest.model_validate({"pack": "astronaut"}).prompts is None
    inline = PackJobRequest.model_validate({"prompts": [PROMPT] * 25, "seed": 2**32 - 1})
    assert sum(p.images for p in inline.prompts or []) == MAX_PACK_IMAGES


@pytest.mark.parametrize(
    ("total", "succeeded", "done", "cancelled", "status"),
    [
        (3, 0, 0, False, PackJobStatus.QUEUED),
        (3, 1, 1, False, PackJobStatus.RUNNING),
        (3, 3, 3, False, PackJobStatus.SUCCEEDED),
        (3, 1, 3, False, PackJobStatus.PARTIAL),
        (3, 0, 3, False, PackJobStatus.FAILED),
        (3, 3, 3, True, PackJobStatus.CANCELLED),
    ],
)
def test_final_status(total: int, succeeded: int, done: int, cancelled: bool, status: PackJobStatus) -> None:
    assert final_status(total, succeeded, done, cancelled) == status
    assert status.final == (status not in (PackJobStatus.QUEUED, PackJobStatus.RUNNING))


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [10, 20, 40, 80, 160, 300, 300]
