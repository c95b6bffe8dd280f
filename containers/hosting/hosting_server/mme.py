"""SageMaker's multi-model container contract, as SageMaker itself drives it, for tests, the local cloud
and the benchmarks.

SageMaker downloads `<ModelDataUrl><TargetModel>` (our `<owner>/<model_id>.tar.gz`), extracts it into
`/opt/ml/models/<hash>/model/` and calls the container: `POST /models {model_name, url}` to load,
`GET /models` to list, `POST /models/<name>/invoke` to infer, `DELETE /models/<name>` to unload.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"


def model_name_for(target_model: str) -> str:
    """SageMaker addresses a loaded model by a hash of its TargetModel."""
    return hashlib.sha256(target_model.encode()).hexdigest()[:32]


def extract_model_archive(archive: Path | str, models_root: Path | str, target_model: str) -> Path:
    """Extract like SageMaker does (into `<models_root>/<hash>/model/`); returns the `url` to load.
    Only regular files and folders are extracted, and nothing outside the folder (tar 'data' filter)."""
    url = Path(models_root) / model_name_for(target_model) / "model"
    url.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(url, filter="data")
    return url


@dataclass
class MultiModelClient:
    """Calls the container the way SageMaker's multi-model endpoint does."""

    base_url: str
    timeout_s: float = 360
    # SageMaker sends the TargetModel header with every call; Triton names the model after it.
    targets: dict[str, str] = field(default_factory=dict)

    def ping(self) -> int:
        return requests.get(f"{self.base_url}/ping", timeout=10).status_code

    def load(self, name: str, url: Path | str, target_model: str | None = None) -> requests.Response:
        if target_model:
            self.targets[name] = target_model
        headers = {TARGET_MODEL_HEADER: target_model} if target_model else {}
        body = {"model_name": name, "url": str(url)}
        return requests.post(f"{self.base_url}/models", json=body, headers=headers, timeout=self.timeout_s)

    def unload(self, name: str, target_model: str | None = None) -> requests.Response:
        """Without the TargetModel header a model loaded with one cannot be found by Triton, which then
        waits 350 s for it to unload: always send the header the model was loaded with."""
        target_model = target_model or self.targets.get(name)
        headers = {TARGET_MODEL_HEADER: target_model} if target_model else {}
        response = requests.delete(f"{self.base_url}/models/{name}", headers=headers, timeout=self.timeout_s)
        if response.status_code == 200:
            self.targets.pop(name, None)
        return response

    def list(self) -> list[str]:
        """Names of the loaded models. Triton lists a model by name only if its Triton name equals the
        name it was loaded as (no TargetModel header, as in local testing); others appear as `{}`."""
        response = requests.get(f"{self.base_url}/models", timeout=30)
        response.raise_for_status()
        return [model["modelName"] for model in response.json().get("models", []) if "modelName" in model]

    def describe(self, name: str) -> requests.Response:
        """`GET /models/<name>`: 200 with {modelName, modelUrl} while loaded, else 404."""
        return requests.get(f"{self.base_url}/models/{name}", timeout=30)

    def invoke(self, name: str, body: dict[str, Any], target_model: str | None = None) -> requests.Response:
        target_model = target_model or self.targets.get(name)
        headers = {TARGET_MODEL_HEADER: target_model} if target_model else {}
        return requests.post(
            f"{self.base_url}/models/{name}/invoke", json=body, headers=headers, timeout=self.timeout_s
        )
