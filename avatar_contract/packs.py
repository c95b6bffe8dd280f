"""Avatar packs as data (docs/packs.md): the one schema of a pack, the curated packs shipped with the
code (`avatar_contract/pack_data/<name>.json`, one pack a file, versioned with the repository) and the
operator's own packs (one JSON file named by cdk.json `operatorPacksFile`, validated at synth and again
when loaded).

A pack is a themed set of prompts with `<<TOK>>` (`avatar_contract.prompts`), each with its negative
prompt, its generation settings (`GenArgs`, finishing passes included; no seed and no `num_images`: a pack
job chooses those) and how many images it yields. `family` names the base family the settings are for
(`avatar_contract.families`: `sd21-base` or `sdxl-base-1.0`): a pack whose settings differ per family is
one file per family under the same name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from avatar_contract import families
from avatar_contract.generation import GenArgs
from avatar_contract.names import TOKEN_PLACEHOLDER, Env
from avatar_contract.training import PROMPT_MAX_CHARS, names_the_subject

PACK_FORMAT: Final = 1
DEFAULT_FAMILY: Final = str(families.DEFAULT_FAMILY)
CURATED_DIR: Final = Path(__file__).resolve().parent / "pack_data"
# The operator's packs file: a path; a relative one is relative to the code root (the folder holding
# avatar_contract/, where the API functions' asset places it).
OPERATOR_PACKS_ENV: Final = Env.OPERATOR_PACKS
_FAMILY_PATTERN: Final = "^(" + "|".join(name.replace(".", r"\.") for name in families.FamilyName) + ")$"
MAX_PROMPTS: Final = 50
MAX_IMAGES_PER_PROMPT: Final = 16
MAX_OPERATOR_PACKS: Final = 100


class PackError(ValueError):
    """A pack file is unreadable or invalid; the message names the file and the offending field."""


class PackPrompt(BaseModel):
    """One prompt of a pack and the images it yields."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, names_the_subject(f"must contain {TOKEN_PLACEHOLDER} (the user's subject)")] = (
        Field(..., min_length=1, max_length=PROMPT_MAX_CHARS, description="Contains <<TOK>>")
    )
    negative_prompt: str | None = Field(
        None, max_length=PROMPT_MAX_CHARS, description="None: the pack's negative prompt"
    )
    images: int = Field(4, ge=1, le=MAX_IMAGES_PER_PROMPT, description="Images of this prompt per pack")
    gen_args: GenArgs = Field(default_factory=GenArgs, description="Settings and finishing passes")

    @field_validator("gen_args")
    @classmethod
    def _job_chooses_seed_and_count(cls, value: GenArgs) -> GenArgs:
        if value.seed is not None or value.num_images != 1:
            raise ValueError("seed and num_images are the pack job's (use images)")
        return value


class Pack(BaseModel):
    """A themed set of prompts (docs/packs.md)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = PACK_FORMAT
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="Unique per family")
    version: int = Field(1, ge=1, description="Raised whenever the pack's prompts or settings change")
    family: str = Field(
        DEFAULT_FAMILY, pattern=_FAMILY_PATTERN, description="Base family (avatar_contract.families)"
    )
    title: str = Field(..., min_length=1, max_length=80)
    description: str = Field(..., min_length=1, max_length=500)
    negative_prompt: str | None = Field(
        None, max_length=PROMPT_MAX_CHARS, description="None: the renderer's default negative prompt"
    )
    prompts: list[PackPrompt] = Field(..., min_length=1, max_length=MAX_PROMPTS)
    source: Literal["curated", "operator"] = "curated"

    @property
    def images(self) -> int:
        """Images one run of the pack yields."""
        return sum(prompt.images for prompt in self.prompts)


class PackCatalog(BaseModel):
    """An operator's packs file: `{"packs": [...]}`."""

    model_config = ConfigDict(extra="forbid")

    packs: list[Pack] = Field(..., max_length=MAX_OPERATOR_PACKS)

    @model_validator(mode="after")
    def _unique(self) -> PackCatalog:
        seen: set[tuple[str, str]] = set()
        for pack in self.packs:
            key = (pack.name, pack.family)
            if key in seen:
                raise ValueError(f"pack {pack.name!r} ({pack.family}) appears twice")
            seen.add(key)
        return self


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(file)'}: {item['msg']}" for item in error.errors()
    )


def _read(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise PackError(f"{path}: not valid JSON ({exc})") from None


@cache
def _operator_packs(path: Path, mtime_ns: int) -> tuple[Pack, ...]:
    del mtime_ns  # only part of the cache key: a changed file is read again
    return load_operator_packs(path)


@cache
def curated_packs() -> tuple[Pack, ...]:
    """The packs shipped with the code, by name."""
    packs = []
    for path in sorted(CURATED_DIR.glob("*.json")):
        try:
            pack = Pack.model_validate(_read(path))
        except ValidationError as exc:
            raise PackError(f"{path}: {_problems(exc)}") from None
        if pack.source != "curated" or path.stem not in (pack.name, f"{pack.name}.{pack.family}"):
            raise PackError(f"{path}: a curated pack's file is named <name>.json or <name>.<family>.json")
        packs.append(pack)
    return tuple(packs)


def load_operator_packs(path: str | os.PathLike[str]) -> tuple[Pack, ...]:
    """The operator's packs file, validated (PackError naming the field otherwise); a pack may not take
    the name of a curated pack of its family."""
    path = Path(path)
    try:
        catalog = PackCatalog.model_validate(_read(path))
    except ValidationError as exc:
        raise PackError(f"{path}: {_problems(exc)}") from None
    curated = {(pack.name, pack.family) for pack in curated_packs()}
    packs = []
    for pack in catalog.packs:
        if (pack.name, pack.family) in curated:
            raise PackError(f"{path}: pack {pack.name!r} ({pack.family}) has the name of a curated pack")
        packs.append(pack.model_copy(update={"source": "operator"}))
    return tuple(packs)


def operator_packs_path(value: str | None = None) -> Path | None:
    """Where the operator's packs file is (`OPERATOR_PACKS_ENV`), or None for none."""
    value = value if value is not None else os.environ.get(OPERATOR_PACKS_ENV, "")
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else Path(__file__).resolve().parent.parent / path


def all_packs() -> tuple[Pack, ...]:
    """The curated packs, then the operator's (when `OPERATOR_PACKS_ENV` names a file)."""
    path = operator_packs_path()
    if path is None:
        return curated_packs()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise PackError(f"{path}: cannot be read ({exc.strerror})") from None
    return curated_packs() + _operator_packs(path, mtime)


def pack_for_family(packs: Sequence[Pack], name: str, family: str) -> Pack | None:
    """The pack `name` as a deployment of `family` runs it: its variant for that family where there is one,
    else its default-family file (rendered at the family's native size: packs name no size), else any."""
    matching = [pack for pack in packs if pack.name == name]
    for wanted in (family, DEFAULT_FAMILY):
        found = next((pack for pack in matching if pack.family == wanted), None)
        if found is not None:
            return found
    return matching[0] if matching else None
