"""The instance token the service picks when a training leaves `token` out (docs/training.md, "The
identifier token").

DreamBooth binds the person to a *rare* identifier: a short string that the text encoder's tokenizer keeps
as one token with little meaning of its own, so that training does not have to unlearn a prior (a real
word drags its meaning in; a string the tokenizer splits into common pieces drags theirs). Each candidate
below is three letters that the CLIP BPE vocabulary of Stable Diffusion (1.x, 2.x and SDXL's two encoders
share it) holds as ONE word-final token with an id above 40000, i.e. among its last merges, the rarest
(the id is noted beside each); reviewed by hand to be no English word, name, brand, weapon, party,
slur or well-known acronym with a visual prior (so not `sks`, which is also a rifle). How they were
checked is in docs/training.md.

The pick is deterministic per owner: `sha256(owner)` chooses the first candidate, and a candidate that
`refused` (the deployment's deny list) rules out is skipped for the next one. So one owner's models
share a token, which is harmless (each model is its own adapter, never combined), retries and
idempotent replays pick the same one, and nothing needs storing before the pick. Models trained
earlier keep theirs (their `metadata.json` and training record name it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

# token: CLIP BPE id of `<token></w>` (openai/clip-vit-large-patch14 and the OpenCLIP ViT-H vocabulary)
CANDIDATES: Final[dict[str, int]] = {
    "ohn": 48043,
    "yte": 48172,
    "iru": 48206,
    "zas": 48261,
    "hns": 48412,
    "bdg": 48418,
    "mwf": 48565,
    "nrf": 47982,
    "sqm": 47978,
    "fcu": 47898,
    "omf": 47496,
    "ucn": 49036,
    "ccu": 49023,
    "wud": 43870,
    "ddu": 43836,
    "kko": 43965,
    "ttu": 44006,
    "cfr": 44033,
    "vcs": 43528,
    "wsw": 43285,
}


class NoTokenLeft(ValueError):
    """Every candidate is refused (a deny list that names them all)."""


def pick_token(owner: str, refused: Callable[[str], bool] = lambda _: False) -> str:
    """The owner's instance token: the candidate `sha256(owner)` points at, or the next one `refused`
    does not rule out."""
    names = list(CANDIDATES)
    start = int(hashlib.sha256(f"avatar-instance-token:{owner}".encode()).hexdigest(), 16) % len(names)
    for offset in range(len(names)):
        token = names[(start + offset) % len(names)]
        if not refused(token):
            return token
    raise NoTokenLeft("every instance token candidate is refused by the deny list")
