"""Per-user model artifacts for the hosting benchmarks: ours (the product's packaging, the thin
`model_templates/user_lora` model) and the reference design's (`benchmarks/reference_model`, a whole
pipeline per user), both built from the same adapter file and unpacked the way SageMaker unpacks a
`TargetModel` before Triton's `POST /models`."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from avatar_contract.keys import new_model_id
from avatar_contract.names import Triton
from avatar_runtime.artifact import package_user_model
from benchmarks.models import CACHE

REFERENCE_TEMPLATE = Path(__file__).resolve().parent / "reference_model"


def random_adapter(pipeline_dir: Path, unet_rank: int, text_encoder_rank: int, seed: int = 0) -> Path:
    """A LoRA adapter file in the training service's format for `pipeline_dir` (built once, cached)."""
    from hosting_server.adapters import make_random_adapter

    target = CACHE / "adapters" / f"{pipeline_dir.name}-r{unet_rank}-te{text_encoder_rank}-s{seed}"
    adapter = target / Triton.ADAPTER_FILE
    if adapter.is_file():
        return adapter
    staging = Path(tempfile.mkdtemp(dir=CACHE, prefix=".adapter-"))
    try:
        make_random_adapter(
            pipeline_dir,
            staging,
            seed=seed,
            unet_rank=unet_rank,
            text_encoder_rank=text_encoder_rank,
            scale=0.01,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return adapter


def adapter_copies(adapter: Path, ranks: tuple[int, int], count: int, work: Path) -> list[tuple[str, Path]]:
    """`count` per-user adapters under `work` (each in its own folder, with its metadata.json) made from
    one adapter file: the cost of loading and switching does not depend on the weights' values."""
    from hosting_server.adapters import write_metadata

    copies = []
    for _ in range(count):
        model_id = new_model_id()
        target = work / model_id / Triton.ADAPTER_FILE
        target.parent.mkdir(parents=True)
        shutil.copy2(adapter, target)
        write_metadata(target, _metadata(model_id, *ranks))
        copies.append((model_id, target))
    return copies


def _metadata(model_id: str, unet_rank: int, text_encoder_rank: int) -> dict:
    from hosting_server.adapters import adapter_metadata

    return adapter_metadata(model_id, unet_rank=unet_rank, text_encoder_rank=text_encoder_rank)


def _unpack(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def our_model(adapter: Path, model_id: str, ranks: tuple[int, int], work: Path) -> Path:
    """The product's artifact for `model_id`, unpacked; returns the folder to pass as `url`."""
    archive = package_user_model(model_id, adapter, _metadata(model_id, *ranks), work / f"{model_id}.tar.gz")
    return _unpack(archive, work / f"ours-{model_id}")


def reference_model(adapter: Path, model_id: str, ranks: tuple[int, int], base_dir: Path, work: Path) -> Path:
    """The reference design's artifact for `model_id` (same layout, the reference template), unpacked."""
    template = work / "reference-template"
    if not template.exists():
        template.mkdir(parents=True)
        config = (
            (REFERENCE_TEMPLATE / "config.pbtxt").read_text().replace("__BASE_MODEL_DIR__", str(base_dir))
        )
        (template / "config.pbtxt").write_text(config)
    archive = package_user_model(
        model_id, adapter, _metadata(model_id, *ranks), work / f"ref-{model_id}.tar.gz", template_dir=template
    )
    # The reference design shipped its code in every artifact (ours carries none: issue 21 M1).
    url = _unpack(archive, work / f"ref-{model_id}")
    shutil.copy2(REFERENCE_TEMPLATE / "model.py", url / model_id / Triton.VERSION_DIR / "model.py")
    return url
