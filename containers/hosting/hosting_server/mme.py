"""SageMaker's multi-model container contract, driven the way SageMaker drives it: for the tests, the
benchmarks and the local cloud's multi-model host.

SageMaker downloads `<ModelDataUrl><TargetModel>` (our `<owner>/<model_id>.tar.gz`), extracts it into
`/opt/ml/models/<model_name>/model/` and calls the container: `POST /models {model_name, url}` to load,
`GET /models` to list, `POST /models/<model_name>/invoke` to infer, `DELETE /models/<model_name>` to
unload, each with the TargetModel header. `model_name` comes from `avatar_contract.multi_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from avatar_contract.multi_model import TARGET_MODEL_HEADER, model_name_for
from avatar_runtime.safe_tar import safe_extract

__all__ = ["TARGET_MODEL_HEADER", "MultiModelClient", "extract_model_archive", "model_name_for"]


def extract_model_archive(archive: Path | str, models_root: Path | str, target_model: str) -> Path:
    """Extract like SageMaker does (into `<models_root>/<model_name>/model/`); returns the `url` to load.
    Every member is checked first (`avatar_runtime.safe_tar`): nothing is written for an unsafe archive."""
    url = Path(models_root) / model_name_for(target_model) / "model"
    return safe_extract(archive, url)


@dataclass
class MultiModelClient:
    """Calls the container the way SageMaker's multi-model endpoint does."""

    base_url: str
    timeout_s: float = 360  # SageMaker waits up to 360 s for a load or an unload
    # SageMaker sends the TargetModel header with every call; Triton names the model after it.
    targets: dict[str, str] = field(default_factory=dict)

    def _headers(self, name: str, target_model: str | None) -> dict[str, str]:
        target_model = target_model or self.targets.get(name)
        return {TARGET_MODEL_HEADER: target_model} if target_model else {}

    def ping(self) -> int:
        return requests.get(f"{self.base_url}/ping", timeout=10).status_code

    def load(self, name: str, url: Path | str, target_model: str | None = None) -> requests.Response:
        if target_model:
            self.targets[name] = target_model
        body = {"model_name": name, "url": str(url)}
        return requests.post(
            f"{self.base_url}/models", json=body, headers=self._headers(name, None), timeout=self.timeout_s
        )

    def unload(self, name: str, target_model: str | None = None) -> requests.Response:
        """Without the TargetModel header a model loaded with one cannot be found by Triton, which then
        waits 350 s for it to unload: always send the header the model was loaded with."""
        headers = self._headers(name, target_model)
        response = requests.delete(f"{self.base_url}/models/{name}", headers=headers, timeout=self.timeout_s)
        if response.status_code == 200:
            self.targets.pop(name, None)
        return response

    def forget(self, name: str) -> None:
        """Drop what this client remembers of a model (the container lost or never had it)."""
        self.targets.pop(name, None)

    def list(self) -> list[str]:
        """Names of the loaded models. Triton lists a model by name only if its Triton name equals the
        name it was loaded as (no TargetModel header, as in local testing); others appear as `{}`."""
        response = requests.get(f"{self.base_url}/models", timeout=30)
        response.raise_for_status()
        return [model["modelName"] for model in response.json().get("models", []) if "modelName" in model]

    def describe(self, name: str) -> requests.Response:
        """`GET /models/<name>`: 200 with {modelName, modelUrl} while loaded, else 404."""
        return requests.get(f"{self.base_url}/models/{name}", timeout=30)

    def invoke(
        self,
        name: str,
        body: dict[str, Any] | bytes,
        target_model: str | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
        timeout_s: float | None = None,
    ) -> requests.Response:
        """`POST /models/<name>/invoke` with a JSON body (a dict) or the caller's bytes as they are."""
        headers = {**self._headers(name, target_model), "Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        data = body if isinstance(body, bytes) else None
        return requests.post(
            f"{self.base_url}/models/{name}/invoke",
            json=None if data is not None else body,
            data=data,
            headers=headers,
            timeout=timeout_s or self.timeout_s,
        )
