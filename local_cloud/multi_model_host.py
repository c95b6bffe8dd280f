"""What a SageMaker multi-model host does in front of one container (here the real Triton), for
`InvokeEndpoint` with a `TargetModel`: download `<ModelDataUrl><TargetModel>`, extract and load it, invoke
it, keep an LRU-bounded set of loaded models and unload to evict (or when the container answers 507).

The container side of that contract — the model name, the safe extraction into
`<work_dir>/<model_name>/model/`, the load / invoke / unload calls — is the hosting container's own
`hosting_server.mme`, the module its tests and benchmarks drive Triton with; this module adds only what
SageMaker itself does around it (S3, waiting for loads, LRU eviction, the runtime API's errors).
"""

from __future__ import annotations

import logging
import shutil
import sys
import tarfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import requests
from botocore.exceptions import ClientError

from avatar_contract.multi_model import model_name_for
from avatar_runtime.safe_tar import UnsafeArchiveError
from local_cloud.runtime_api import RuntimeApiError, s3_split, validation_error

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_LOAD_WAIT_SECONDS = 60.0  # InvokeEndpoint gives up with ModelNotReadyException, the load goes on
MODEL_INVOKE_TIMEOUT_SECONDS = 60.0
MAX_MODEL_ARCHIVE_BYTES = 2 * 1024**3


def hosting_mme() -> ModuleType:
    """The hosting container's `hosting_server.mme` (importable from the repository root too)."""
    source = str(REPO_ROOT / "containers" / "hosting")
    if source not in sys.path:  # `python -m local_cloud` from the repository root
        sys.path.insert(0, source)
    import hosting_server.mme

    return hosting_server.mme


def _model_error(status: int, text: str) -> RuntimeApiError:
    message = text[:1000]
    kind = "client" if status < 500 else "server"
    return RuntimeApiError(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{message}". '
        "See the endpoint's logs (.local-cloud/logs/) for more information.",
        {"OriginalStatusCode": status, "OriginalMessage": message},
    )


@dataclass
class _LoadedModel:
    name: str  # the multi-model `model_name` (avatar_contract.multi_model.model_name_for)
    directory: Path
    ready: threading.Event = field(default_factory=threading.Event)
    error: RuntimeApiError | None = None
    load_seconds: float | None = None  # download + extract + load into the container


class MultiModelHost:
    """The multi-model host of one endpoint: S3 downloads, loads, LRU eviction, SageMaker's errors."""

    def __init__(
        self,
        clients: Callable[[str], Any],
        container_url: str,
        model_data_url: str,
        work_dir: Path,
        max_loaded_models: int = 8,
    ) -> None:
        self._clients = clients
        self.container_url = container_url
        self.bucket, self.prefix = s3_split(
            model_data_url if "/" in model_data_url[5:] else model_data_url + "/"
        )
        self.work_dir = work_dir
        self.max_loaded_models = max_loaded_models
        mme = hosting_mme()
        self._container = mme.MultiModelClient(container_url)
        self._extract = mme.extract_model_archive
        self._models: OrderedDict[str, _LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def invoke(
        self, target_model: str, body: bytes, content_type: str, accept: str | None
    ) -> tuple[bytes, str]:
        target = PurePosixPath(target_model)
        if not target_model or target.is_absolute() or ".." in target.parts or len(target_model) > 1024:
            raise validation_error(f"Invalid TargetModel: {target_model!r}")
        for attempt in range(2):
            model = self._ensure_loaded(target_model)
            try:
                response = self._container.invoke(
                    model.name, body, target_model, content_type, accept, MODEL_INVOKE_TIMEOUT_SECONDS
                )
            except requests.Timeout:
                raise RuntimeApiError(
                    424, "ModelError", "Model did not respond within 60 seconds", {"OriginalStatusCode": 504}
                ) from None
            except requests.ConnectionError as err:  # the container died (SageMaker starts it again)
                log.warning("the container dropped the call to %s: %s", target_model, err)
                self.forget_all()  # and every model it had loaded with it: the next call loads again
                raise RuntimeApiError(
                    503, "ServiceUnavailable", "The model container is unavailable; retry the request."
                ) from None
            if response.status_code == 200:
                return response.content, response.headers.get("Content-Type", "application/json")
            if response.status_code == 404 and attempt == 0:  # the container lost the model: reload once
                self._forget(target_model)
                continue
            break
        if response.status_code == 507:  # out of memory: SageMaker unloads models to make room
            self._evict(keep=target_model)
        raise _model_error(response.status_code, response.text)

    def loaded_models(self) -> list[str]:
        with self._lock:
            return [name for name, model in self._models.items() if model.ready.is_set() and not model.error]

    def load_seconds(self, target_model: str) -> float | None:
        """How long loading `target_model` took, if it is loaded."""
        with self._lock:
            model = self._models.get(target_model)
        return model.load_seconds if model is not None else None

    def _ensure_loaded(self, target_model: str) -> _LoadedModel:
        with self._lock:
            model = self._models.get(target_model)
            if model is not None and model.ready.is_set() and model.error is not None:
                del self._models[target_model]
                model = None
            if model is None:
                name = model_name_for(target_model)
                model = self._models[target_model] = _LoadedModel(name, self.work_dir / name)
                threading.Thread(target=self._load, args=(target_model, model), daemon=True).start()
            self._models.move_to_end(target_model)
        if not model.ready.wait(MODEL_LOAD_WAIT_SECONDS):
            raise RuntimeApiError(
                429, "ModelNotReadyException", f"Model {target_model} is still loading; retry the request."
            )
        if model.error is not None:
            raise model.error
        return model

    def _load(self, target_model: str, model: _LoadedModel) -> None:
        started = time.monotonic()
        try:
            url = self._download_and_extract(target_model, model.directory)
            self._load_into_container(target_model, model, url)
            model.load_seconds = time.monotonic() - started
        except RuntimeApiError as err:
            model.error = err
        except Exception as err:
            log.exception("loading %s failed", target_model)
            model.error = RuntimeApiError(
                500, "InternalFailure", f"Failed to load model {target_model}: {err}"
            )
        finally:
            if model.error is not None:
                shutil.rmtree(model.directory, ignore_errors=True)
            model.ready.set()

    def _download_and_extract(self, target_model: str, directory: Path) -> Path:
        key = self.prefix + target_model
        s3 = self._clients("s3")
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        archive = directory / "model.tar.gz"
        try:
            head = s3.head_object(Bucket=self.bucket, Key=key)
            if head["ContentLength"] > MAX_MODEL_ARCHIVE_BYTES:
                raise validation_error(f"Model data {key} exceeds {MAX_MODEL_ARCHIVE_BYTES} bytes")
            s3.download_file(self.bucket, key, str(archive))
        except ClientError:
            raise validation_error(
                f"Failed to download model data(bucket: {self.bucket}, key: {key}). Please ensure that there "
                "is an object located at the URL and that the role passed to CreateModel has permissions "
                "to download the model."
            ) from None
        try:
            return self._extract(archive, self.work_dir, target_model)
        except (UnsafeArchiveError, tarfile.TarError) as err:
            raise validation_error(f"Failed to extract model data {key}: {err}") from None
        finally:
            archive.unlink(missing_ok=True)

    def _load_into_container(self, target_model: str, model: _LoadedModel, url: Path) -> None:
        for attempt in range(2):
            response = self._container.load(model.name, url, target_model)
            if response.status_code in (200, 409):  # 409: the container already has it
                log.info("loaded %s as %s", target_model, model.name)
                return
            if response.status_code == 507 and attempt == 0 and self._evict(keep=target_model):
                continue  # SageMaker unloads least recently used models and retries
            status, message = response.status_code, response.text[:1000]
            raise RuntimeApiError(
                507 if status == 507 else 424,
                "ModelError",
                f'Failed to load model {target_model}: the container answered {status} with "{message}"',
                {"OriginalStatusCode": status, "OriginalMessage": message},
            )

    def _evict(self, keep: str) -> bool:
        """Unload the least recently used model other than `keep`; False when there is none."""
        with self._lock:
            victim = next((n for n, m in self._models.items() if n != keep and m.ready.is_set()), None)
            if victim is None:
                return False
            model = self._models.pop(victim)
        self._unload(victim, model)
        return True

    def enforce_bound(self) -> None:
        while True:
            with self._lock:
                if len(self._models) <= self.max_loaded_models:
                    return
                victim = next((n for n, m in self._models.items() if m.ready.is_set()), None)
                if victim is None:
                    return
                model = self._models.pop(victim)
            self._unload(victim, model)

    def _forget(self, target_model: str) -> None:
        with self._lock:
            model = self._models.pop(target_model, None)
        if model is not None:
            self._container.forget(model.name)
            shutil.rmtree(model.directory, ignore_errors=True)

    def _unload(self, target_model: str, model: _LoadedModel) -> None:
        if model.error is None:
            try:
                response = self._container.unload(model.name, target_model)
                log.info("unloaded %s: %d %s", target_model, response.status_code, response.text[:200])
            except requests.RequestException as err:
                log.warning("unloading %s failed: %s", target_model, err)
        shutil.rmtree(model.directory, ignore_errors=True)

    def forget_all(self) -> None:
        """Drop the extracted models without asking the container (it is going away)."""
        with self._lock:
            models, self._models = list(self._models.values()), OrderedDict()
        for model in models:
            self._container.forget(model.name)
            shutil.rmtree(model.directory, ignore_errors=True)
