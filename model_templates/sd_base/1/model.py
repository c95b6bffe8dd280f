"""Triton Python-backend model `sd_base`: the shared Stable Diffusion base model of a hosting instance.

Loads the pipeline once (from `AVATAR_BASE_MODEL`: a local directory, an s3:// URI or a Hugging Face id)
and serves every per-user model through BLS. The work is done by `hosting_server.engine`; this file only
converts Triton tensors and maps errors:
- bad `gen_args` / prompt / adapter → Triton INVALID_ARG (HTTP 400 through SageMaker's front end);
- out of memory → an error whose text keeps the original OOM message (SageMaker's front end answers 507).
"""

from __future__ import annotations

import base64
import json
import logging
import os

import numpy as np
import triton_python_backend_utils as pb_utils

from avatar_contract.generation import OUTPUT_NAME
from avatar_contract.names import Env
from hosting_server.deadline import split_deadline
from hosting_server.engine import (
    AdapterError,
    BaseModelEngine,
    InvalidRequestError,
    OutOfMemoryError,
    parse_gen_args,
)
from hosting_server.settings import HostingSettings

logging.basicConfig(level=os.environ.get("AVATAR_LOG_LEVEL", "INFO"))


def _string(request, name: str) -> str | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    values = tensor.as_numpy().reshape(-1)
    if values.size != 1:
        raise InvalidRequestError(f"{name} must hold exactly one string, got {values.size}")
    value = values[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        base_model = os.environ.get(Env.BASE_MODEL)
        if not base_model:
            raise RuntimeError(f"{Env.BASE_MODEL} is not set: where should the base model come from?")
        self.engine = BaseModelEngine(base_model, settings=HostingSettings.from_env(parameters=parameters))

    def execute(self, requests):
        self._release_unloaded_models()
        return [self._execute_one(request) for request in requests]

    def _release_unloaded_models(self) -> None:
        """SageMaker unloads per-user models to free memory; their adapters leave the cache with them.
        (A Python model cannot call another model while it is being unloaded, so the base model checks.)"""
        try:
            self.engine.release_orphans(lambda name: pb_utils.is_model_ready(name))
        except Exception as exc:  # never fail a request over housekeeping
            pb_utils.Logger.log_warn(f"could not check for unloaded user models: {exc}")

    def _execute_one(self, request):
        try:
            prompt = _string(request, "prompt") or ""
            negative = _string(request, "negative_prompt") or ""
            raw_args, deadline = split_deadline(_string(request, "gen_args"))
            gen_args = parse_gen_args(raw_args)
            images = self.engine.generate(
                prompt,
                negative,
                gen_args,
                adapter_id=_string(request, "adapter_id"),
                adapter_file=_string(request, "adapter_path"),
                triton_model=_string(request, "model_name"),
                deadline=deadline,
            )
        except (InvalidRequestError, AdapterError) as exc:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG)
            )
        except OutOfMemoryError as exc:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
        except Exception as exc:  # anything else: keep the real text (it may still be an OOM)
            pb_utils.Logger.log_error(f"sd_base failed: {type(exc).__name__}: {exc}")
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}"))
        encoded = np.array([[base64.b64encode(image) for image in images]], dtype=np.object_)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(OUTPUT_NAME, encoded)])

    def finalize(self) -> None:
        self.engine = None
