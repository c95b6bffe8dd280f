"""The per-user model artifact (docs/design.md §4): `models/<owner>/<model_id>.tar.gz` in the hosting bucket.

The archive holds one Triton model directory named after the model id (unique, so two users' models
never collide inside one Triton server), and no code: its `config.pbtxt` names the Python-based backend
`avatar_lora` that the hosting image carries (containers/hosting/backends/avatar_lora/model.py):

    <model_id>/config.pbtxt                  model_templates/user_lora/config.pbtxt, byte for byte
    <model_id>/1/pytorch_lora_weights.safetensors   the adapter, diffusers format
    <model_id>/1/metadata.json               token, base model id, ranks, created, training id, ...

Those three files are all an archive may hold: the hosting container refuses any other
(`hosting_server.model_gate`).
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
    """Write the model artifact: the template's `config.pbtxt`, the adapter and the metadata, nothing else."""
    if not MODEL_ID_RE.fullmatch(model_id):
        raise ValueError(f"invalid model id: {model_id!r}")
    if not (template_dir / "config.pbtxt").is_file():
        raise FileNotFoundError(f"no Triton model template at {template_dir}")
    version = f"{model_id}/{Triton.VERSION_DIR}"
    members = {
        f"{model_id}/{Triton.CONFIG_FILE}": (template_dir / Triton.CONFIG_FILE).read_bytes(),
        f"{version}/{Triton.ADAPTER_FILE}": adapter_file.read_bytes(),
        f"{version}/{Triton.METADATA_FILE}": json.dumps(metadata, indent=2, sort_keys=True).encode(),
    }
    with tarfile.open(out_path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(blob), 0o644
            tar.addfile(info, io.BytesIO(blob))
    return out_path


def artifact_members(model_id: str) -> frozenset[str]:
    """The only files a per-user archive holds (relative to the extracted folder)."""
    version = f"{model_id}/{Triton.VERSION_DIR}"
    return frozenset(
        {
            f"{model_id}/{Triton.CONFIG_FILE}",
            f"{version}/{Triton.ADAPTER_FILE}",
            f"{version}/{Triton.METADATA_FILE}",
        }
    )
