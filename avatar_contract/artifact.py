"""The per-user model artifact (docs/design.md §4): `models/<owner>/<model_id>.tar.gz` in the hosting bucket.

The archive holds one Triton model directory named after the model id (unique, so two users' models
never collide inside one Triton server):

    <model_id>/config.pbtxt                  from model_templates/user_lora/
    <model_id>/1/model.py                    from model_templates/user_lora/  (and any other template file)
    <model_id>/1/pytorch_lora_weights.safetensors   the adapter, diffusers format
    <model_id>/1/metadata.json               token, base model id, ranks, created, training id, ...
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from avatar_contract.keys import MODEL_ID_RE
from avatar_contract.names import Triton

REPO_ROOT = Path(__file__).resolve().parent.parent
USER_TEMPLATE = REPO_ROOT / "model_templates" / Triton.USER_TEMPLATE_DIR


def package_user_model(
    model_id: str,
    adapter_file: Path,
    metadata: dict[str, Any],
    out_path: Path,
    template_dir: Path = USER_TEMPLATE,
) -> Path:
    """Write the model artifact: every file of the template folder, the adapter and the metadata."""
    if not MODEL_ID_RE.fullmatch(model_id):
        raise ValueError(f"invalid model id: {model_id!r}")
    if not (template_dir / "config.pbtxt").is_file():
        raise FileNotFoundError(f"no Triton model template at {template_dir}")
    version = f"{model_id}/{Triton.VERSION_DIR}"
    with tarfile.open(out_path, "w:gz") as tar:
        for path in sorted(template_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                tar.add(path, arcname=f"{model_id}/{path.relative_to(template_dir).as_posix()}")
        tar.add(adapter_file, arcname=f"{version}/{Triton.ADAPTER_FILE}")
        blob = json.dumps(metadata, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(f"{version}/{Triton.METADATA_FILE}")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    return out_path
