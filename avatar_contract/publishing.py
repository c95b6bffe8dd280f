"""What the model publisher accepts from a training, and what it publishes (issue 21 M1; no torch).

The training container writes only a staged adapter and its metadata (`keys.staged_prefix`, in the data
bucket). The publisher — the only principal the hosting bucket's policy lets write `models/*` — checks
them without loading a tensor:

- the adapter is a safetensors file: an 8-byte little-endian header length, a JSON header bounded in size,
  then one flat buffer. Every tensor is a LoRA factor of a module the training targets
  (`avatar_contract.lora`; PEFT's `lora_A/B` or diffusers' `lora[_linear_layer].down/up` naming), 2-D,
  F16/BF16/F32, its rank the metadata's, its data offsets contiguous and
  exactly its shape's bytes, the buffer exactly the file's remainder; bounded tensor count, dimensions and
  file size;
- the metadata matches `ModelMetadata` (no other field) and names this training, model and owner;

then rebuilds the archive from the template it carries (`avatar_runtime.artifact.package_user_model`:
config.pbtxt, the adapter, metadata re-serialized from the validated model) and writes it.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import IO, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avatar_contract.families import FamilyName, family, family_of
from avatar_contract.keys import MODEL_ID_RE, OWNER_RE, TRAINING_ID_RE
from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES

STAGED_ADAPTER = "pytorch_lora_weights.safetensors"
STAGED_METADATA = "metadata.json"

MAX_ADAPTER_BYTES = 1024**3  # rank 128 UNet + rank 64 text encoder in fp32 is about 200 MB
MAX_HEADER_BYTES = 1024**2  # SD 2.1's 640 LoRA tensors take about 100 KB of header
MAX_METADATA_BYTES = 16 * 1024
MAX_TENSORS = 2048
MAX_RANK = 256
MAX_DIMENSION = 8192
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4}

_MODULES = "|".join(re.escape(m) for m in (*UNET_TARGET_MODULES, *TEXT_ENCODER_TARGET_MODULES))
TENSOR_NAME = re.compile(
    rf"^(?P<part>unet|text_encoder(?:_[2-9])?)\.(?:[a-z_]+[0-9]?\.(?:[0-9]{{1,3}}\.)?){{1,12}}(?:{_MODULES})"
    r"\.(?:lora_(?P<factor>[AB])|lora(?:_linear_layer)?\.(?P<direction>down|up))\.weight$"
)


class InvalidStagedModel(ValueError):
    """The staged adapter or metadata is not a model the publisher publishes; the message says why."""


# The schema version of `metadata.json` (ModelMetadata). A change a reader must know about bumps it; a
# file without `metadata_version` was written before versions and reads as version 1.
METADATA_VERSION: Final = 1


class ModelMetadata(BaseModel):
    """`metadata.json` of a per-user model: the one schema the training service writes it with and the
    publisher checks it against (the hosting engine reads its `token`, `class_noun` and `resolution`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metadata_version: int = Field(default=METADATA_VERSION, ge=1, le=METADATA_VERSION)

    model_id: str = Field(pattern=MODEL_ID_RE.pattern)
    training_id: str = Field(pattern=TRAINING_ID_RE.pattern)
    owner: str = Field(pattern=OWNER_RE.pattern)
    model_name: str | None = Field(default=None, max_length=200)
    token: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f<>]+$")
    instance_prompt: str | None = Field(default=None, max_length=1000)
    class_prompt: str = Field(max_length=1000)
    class_noun: str | None = Field(default=None, max_length=64, pattern=r"^[^\x00-\x1f<>]+$")
    render_version: int | None = Field(default=None, ge=1, le=1000)
    # The base family it was trained on (None: a model from before families, sd21-base).
    base_family: FamilyName | None = None
    base_model_id: str = Field(max_length=500)
    lora_rank: int = Field(ge=1, le=MAX_RANK)
    text_encoder_lora_rank: int | None = Field(default=None, ge=1, le=MAX_RANK)
    train_text_encoder: bool = True
    resolution: int | None = Field(default=None, ge=64, le=2048)
    max_train_steps: int | None = Field(default=None, ge=1, le=100_000)
    final_loss: float | None = None
    adapter_format: Literal["diffusers"] = "diffusers"
    created: str = Field(max_length=64)


@dataclass(frozen=True)
class AdapterSummary:
    tensors: int
    bytes: int
    unet_rank: int | None
    text_encoder_rank: int | None


def read_header(stream: IO[bytes], size: int) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header of a file of `size` bytes and its length, read without the tensors."""
    if size < 8 or size > MAX_ADAPTER_BYTES:
        raise InvalidStagedModel(f"the adapter is {size} bytes; an adapter has 8 to {MAX_ADAPTER_BYTES}")
    (length,) = struct.unpack("<Q", stream.read(8))
    if length < 2 or length > MAX_HEADER_BYTES or 8 + length > size:
        raise InvalidStagedModel(f"the adapter's header length {length} is out of bounds")
    raw = stream.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidStagedModel("the adapter's header is not JSON") from None
    if not isinstance(header, dict):
        raise InvalidStagedModel("the adapter's header is not a JSON object")
    return header, length


def check_adapter(stream: IO[bytes], size: int, metadata: ModelMetadata) -> AdapterSummary:
    """Check a staged adapter's safetensors header against the bounds and the metadata's ranks."""
    header, length = read_header(stream, size)
    extra = header.pop("__metadata__", None)
    if extra is not None and not (
        isinstance(extra, dict) and len(extra) <= 64 and all(isinstance(v, str) for v in extra.values())
    ):
        raise InvalidStagedModel("the adapter's __metadata__ must map at most 64 names to strings")
    if not header or len(header) > MAX_TENSORS:
        raise InvalidStagedModel(f"the adapter holds {len(header)} tensors; 1 to {MAX_TENSORS} expected")
    spans: list[tuple[int, int]] = []
    encoders = family(family_of(metadata.model_dump(mode="json"))).text_encoders
    ranks: dict[str, set[int]] = {"unet": set(), **{encoder: set() for encoder in encoders}}
    for name, tensor in header.items():
        match = TENSOR_NAME.fullmatch(name)
        if match is None:
            raise InvalidStagedModel(f"tensor {name[:200]!r} is not a LoRA factor of a trained module")
        if not isinstance(tensor, dict) or set(tensor) != {"dtype", "shape", "data_offsets"}:
            raise InvalidStagedModel(f"tensor {name!r} has an unexpected description")
        dtype, shape, offsets = tensor["dtype"], tensor["shape"], tensor["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise InvalidStagedModel(
                f"tensor {name!r} has dtype {str(dtype)[:20]!r}; {sorted(DTYPE_BYTES)} only"
            )
        if not _ints(shape, 2) or not all(1 <= d <= MAX_DIMENSION for d in shape):
            raise InvalidStagedModel(f"tensor {name!r} has shape {str(shape)[:60]}; 2-D, 1..{MAX_DIMENSION}")
        rank = shape[0] if match["factor"] == "A" or match["direction"] == "down" else shape[1]
        if match["part"] not in ranks:
            raise InvalidStagedModel(
                f"tensor {name[:200]!r} adapts {match['part']}, which base family "
                f"{family_of(metadata.model_dump(mode='json'))} has not"
            )
        ranks[match["part"]].add(rank)
        if not _ints(offsets, 2) or not 0 <= offsets[0] <= offsets[1]:
            raise InvalidStagedModel(f"tensor {name!r} has invalid data offsets")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise InvalidStagedModel(f"tensor {name!r}'s data offsets do not match its shape and dtype")
        spans.append((offsets[0], offsets[1]))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise InvalidStagedModel("the adapter's tensors overlap or leave gaps in its buffer")
        position = end
    if 8 + length + position != size:
        raise InvalidStagedModel("the adapter's size does not match its header")
    for part, seen in ranks.items():
        expected = metadata.lora_rank if part == "unet" else metadata.text_encoder_lora_rank
        if seen and seen != {expected}:
            raise InvalidStagedModel(
                f"the adapter's {part} rank {sorted(seen)} is not the metadata's {expected}"
            )
    if not ranks["unet"]:
        raise InvalidStagedModel("the adapter holds no UNet LoRA weights")
    text_ranks = set().union(*(seen for part, seen in ranks.items() if part != "unet"))
    return AdapterSummary(len(header), size, min(ranks["unet"]), min(text_ranks) if text_ranks else None)


def check_metadata(raw: bytes, *, owner: str, training_id: str | None, model_id: str) -> ModelMetadata:
    """Parse staged metadata and check that it names this owner's training and model (any training of
    the owner when `training_id` is None: a published archive is found by its model)."""
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidStagedModel(f"the metadata exceeds {MAX_METADATA_BYTES} bytes")
    try:
        metadata = ModelMetadata.model_validate_json(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'metadata'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise InvalidStagedModel(f"the metadata is invalid: {problems}") from None
    names = (metadata.owner, metadata.training_id, metadata.model_id)
    if names != (owner, training_id or metadata.training_id, model_id):
        raise InvalidStagedModel("the metadata names another owner, training or model")
    return metadata


class Republication(BaseModel):
    """The publisher's verdict on rebuilding an archive published before archives were code-free
    (`keys.republication_key`): `republished`, or `refused` with the reason (the archive is kept)."""

    model_id: str
    training_id: str | None = None
    status: Literal["republished", "refused"]
    reason: str | None = None


class Publication(BaseModel):
    """The publisher's verdict at `keys.publication_key`: what GET /trainings and the events report."""

    training_id: str
    model_id: str
    status: Literal["published", "refused"]
    reason: str | None = None


def _ints(value: object, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
