"""The base model engine in-process (tiny pipeline): adapter cache bounds, switching, error mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosting_server.adapters import adapter_metadata, make_random_adapter, write_metadata
from hosting_server.engine import (
    AdapterError,
    BaseModelEngine,
    CacheBound,
    InvalidRequestError,
    OutOfMemoryError,
    is_out_of_memory,
    parse_gen_args,
    render_prompt,
)
from hosting_server.settings import HostingSettings

pytestmark = pytest.mark.slow
ARGS = parse_gen_args({"num_inference_steps": 2, "seed": 3})


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("engine-adapters")
    files = []
    for seed in (11, 12, 13):
        adapter = make_random_adapter(tiny_model_dir, root / f"a{seed}", seed=seed)
        write_metadata(adapter, adapter_metadata(f"m-{seed:020d}", token=f"tok{seed}"))
        files.append(adapter)
    return files


def test_cache_is_bounded_by_count_in_lru_order(tiny_model_dir: Path, adapters: list[Path]):
    engine = BaseModelEngine(tiny_model_dir, bound=CacheBound(max_adapters=2, max_bytes=0))
    images = {i: engine.generate("a photo of <<TOK>>", "", ARGS, f"u{i}", adapters[i]) for i in range(2)}
    engine.generate("a photo of <<TOK>>", "", ARGS, "u0", adapters[0])  # u0 becomes most recent
    engine.generate("a photo of <<TOK>>", "", ARGS, "u2", adapters[2])
    assert engine.resident == ["u0", "u2"]  # u1 was least recently used
    assert len(engine.pipe.get_list_adapters()["unet"]) == 2  # evicted weights really left the pipeline
    # Evicted and reloaded, or kept resident: the images do not change.
    assert engine.generate("a photo of <<TOK>>", "", ARGS, "u1", adapters[1]) == images[1]
    assert engine.generate("a photo of <<TOK>>", "", ARGS, "u0", adapters[0]) == images[0]
    assert engine.generate("a photo of sks person", "", ARGS) != images[0]  # plain base model


def test_a_base_with_only_fp16_weight_files_serves_with_adapters(tiny_fp16_model_dir: Path, tmp_path: Path):
    engine = BaseModelEngine(tiny_fp16_model_dir, device="cpu", dtype="float32")  # the staged default's files
    assert str(engine.pipe.unet.dtype) == "torch.float32"  # the fp16 weights, cast on load
    adapter = make_random_adapter(tiny_fp16_model_dir, tmp_path / "a", seed=5)
    write_metadata(adapter, adapter_metadata("m-00000000000000000005", token="tok5"))
    image = engine.generate("a photo of <<TOK>>", "", ARGS, "u5", adapter)
    assert image and image != engine.generate("a photo of sks person", "", ARGS)


def test_cache_is_bounded_by_memory(tiny_model_dir: Path, adapters: list[Path]):
    engine = BaseModelEngine(tiny_model_dir, bound=CacheBound(max_adapters=10, max_bytes=1))
    engine.ensure_adapter("u0", adapters[0])
    engine.ensure_adapter("u1", adapters[1])
    assert engine.resident == ["u1"]  # the adapter in use always stays, however large
    assert engine.resident_bytes > 0


def test_cache_bound_settings_come_from_env_then_parameters(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AVATAR_MAX_RESIDENT_ADAPTERS", "7")
    parameters = {"AVATAR_MAX_ADAPTER_MEMORY_MB": "5", "AVATAR_MAX_RESIDENT_ADAPTERS": "3"}
    bound = HostingSettings.from_env(parameters=parameters).cache_bound
    assert (bound.max_adapters, bound.max_bytes) == (7, 5 * 2**20)
    monkeypatch.setenv("AVATAR_MAX_RESIDENT_ADAPTERS", "many")
    with pytest.raises(ValueError, match="AVATAR_MAX_RESIDENT_ADAPTERS"):
        HostingSettings.from_env()


def test_out_of_memory_keeps_the_original_text(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    import torch

    engine = BaseModelEngine(tiny_model_dir)

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(type(engine.pipe), "__call__", oom)
    with pytest.raises(OutOfMemoryError, match=r"CUDA out of memory\. Tried to allocate 2\.00 GiB"):
        engine.generate("a face", "", ARGS)
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(ValueError("width must be a multiple of 8"))


def test_bad_requests_and_adapters_are_client_errors(tiny_model_dir: Path, tmp_path: Path):
    with pytest.raises(InvalidRequestError, match="num_images"):
        parse_gen_args('{"num_images": 0}')
    with pytest.raises(InvalidRequestError, match="JSON object"):
        parse_gen_args("[1, 2]")
    assert parse_gen_args(None).num_inference_steps == 25
    engine = BaseModelEngine(tiny_model_dir)
    with pytest.raises(InvalidRequestError, match="<<TOK>>"):
        engine.generate("a photo of <<TOK>>", "", ARGS)  # no personal model selected
    with pytest.raises(InvalidRequestError, match="prompt"):
        engine.generate("  ", "", ARGS)
    with pytest.raises(AdapterError, match="not readable"):
        engine.ensure_adapter("x", tmp_path / "missing.safetensors")
    assert render_prompt("<<TOK>> on a hill", {"token": "zwx", "class_prompt": "a photo of dog"}) == (
        "zwx dog on a hill"
    )
    assert render_prompt("no placeholder", None) == "no placeholder"
    with pytest.raises(AdapterError, match="token"):
        render_prompt("a photo of <<TOK>>", {})
