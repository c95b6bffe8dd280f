"""The `avatar_lora` Triton Python-based backend: serves every user's personalized avatar model.

It lives in the hosting image (/opt/tritonserver/backends/avatar_lora/model.py), never in an artifact: a
per-user model is only `config.pbtxt` (naming this backend), `1/pytorch_lora_weights.safetensors` and
`1/metadata.json` (avatar_runtime.artifact), so a model archive carries no code. It imports
no torch and holds no base weights: loading it only checks that its adapter is a readable safetensors file
with LoRA weights and that its metadata names a token, so a corrupt or missing adapter fails this model's
load with a clear message and nothing else. Each request is forwarded to the shared base model (`sd_base`)
through BLS, with the adapter's path and id; the base model keeps the adapter resident in its LRU cache
until this model is unloaded (or the cache bound evicts it first).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from safetensors import safe_open

BASE_MODEL_NAME = "sd_base"  # avatar_contract.names.Triton.BASE_MODEL_NAME (kept import-free on purpose)
ADAPTER_FILE = "pytorch_lora_weights.safetensors"
METADATA_FILE = "metadata.json"
FORWARDED_INPUTS = ("prompt", "negative_prompt", "gen_args")
OUTPUT_NAME = "generated_image"


def check_adapter(version_dir: Path) -> dict:
    """Raise a clear error unless `version_dir` holds a usable adapter; return its metadata."""
    adapter = version_dir / ADAPTER_FILE
    if not adapter.is_file():
        raise FileNotFoundError(f"this model has no adapter: {adapter} is missing")
    try:
        with safe_open(str(adapter), framework="numpy") as weights:
            names = list(weights.keys())
    except Exception as exc:
        raise ValueError(f"adapter {adapter} is not a readable safetensors file: {exc}") from None
    if not any("lora" in name for name in names):
        raise ValueError(f"adapter {adapter} holds no LoRA weights ({len(names)} tensors, none named lora)")
    metadata_path = version_dir / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"this model has no metadata: {metadata_path} is missing") from None
    except ValueError as exc:
        raise ValueError(f"metadata {metadata_path} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict) or not str(metadata.get("token") or "").strip():
        raise ValueError(f"metadata {metadata_path} must be a JSON object with a 'token'")
    return metadata


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        metadata = check_adapter(version_dir)
        self.adapter_path = str(version_dir / ADAPTER_FILE)
        # One id per trained model, stable across unload/reload (SageMaker may re-download elsewhere).
        self.adapter_id = str(metadata.get("model_id") or Path(args["model_repository"]).name)
        self.model_name = args["model_name"]

    def execute(self, requests):
        responses = []
        for request in requests:
            inputs = [
                tensor
                for tensor in (pb_utils.get_input_tensor_by_name(request, name) for name in FORWARDED_INPUTS)
                if tensor is not None
            ]
            inputs.append(pb_utils.Tensor("adapter_path", np.array([self.adapter_path], dtype=np.object_)))
            inputs.append(pb_utils.Tensor("adapter_id", np.array([self.adapter_id], dtype=np.object_)))
            inputs.append(pb_utils.Tensor("model_name", np.array([self.model_name], dtype=np.object_)))
            base_request = pb_utils.InferenceRequest(
                model_name=BASE_MODEL_NAME, requested_output_names=[OUTPUT_NAME], inputs=inputs
            )
            response = base_request.exec()
            if response.has_error():
                # Keep the base model's text and code: an OOM message must reach SageMaker unchanged (507).
                responses.append(pb_utils.InferenceResponse(error=response.error()))
                continue
            images = pb_utils.get_output_tensor_by_name(response, OUTPUT_NAME)
            output = pb_utils.Tensor(OUTPUT_NAME, images.as_numpy())
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses
