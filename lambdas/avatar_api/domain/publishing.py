"""The model publisher (issue 21 M1): the only writer of `models/*` in the hosting bucket.

A training's success notification (its own queue on SageMaker's success topic) names the training; the
training's record must agree (same input archive), exactly as for the training events. The publisher
reads what the training container staged (`keys.staged_prefix`: the adapter and its metadata), checks them
without loading a tensor (`avatar_contract.publishing`), rebuilds the archive from the template it
carries (config.pbtxt naming the image's backend, the adapter, the re-serialized metadata) and writes
`models/<owner>/<model_id>.tar.gz`. Either way it writes its verdict (`keys.publication_key`): a
training is reported completed only once its model is published, failed with the reason if refused.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Literal

from avatar_api.adapters.aws import Bucket
from avatar_api.adapters.records import TrainingRecords
from avatar_api.domain.events import owner_of_input
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA, family_of
from avatar_contract.notifications import AsyncInferenceNotification
from avatar_contract.publishing import (
    MAX_ADAPTER_BYTES,
    STAGED_ADAPTER,
    STAGED_METADATA,
    InvalidStagedModel,
    ModelMetadata,
    Publication,
    check_adapter,
    check_metadata,
)
from avatar_runtime.artifact import package_user_model

log = logging.getLogger(__name__)

Outcome = Literal["published", "refused", "done before", "ignored"]


def handle_success(data: Bucket, hosting: Bucket, notification: AsyncInferenceNotification) -> Outcome:
    """Publish the model of the training a success notification names (idempotent: a redelivered
    notification finds the verdict and does nothing)."""
    if notification.status != "completed":
        return "ignored"
    owner = owner_of_input(data.name, notification)
    record = TrainingRecords(data).load(owner, notification.inference_id) if owner else None
    if owner is None or record is None:
        log.warning(
            "notification of no known training ignored", extra={"inference_id": notification.inference_id}
        )
        return "ignored"
    if record.input_location != notification.request_parameters.input_location:
        log.warning(
            "notification disagrees with the training record", extra={"training_id": record.training_id}
        )
        return "ignored"
    return publish(data, hosting, owner, record.training_id, record.model_id)


def publish(data: Bucket, hosting: Bucket, owner: str, training_id: str, model_id: str) -> Outcome:
    verdict_key = keys.publication_key(owner, training_id)
    if data.exists(verdict_key):
        return "done before"
    staged = keys.staged_prefix(owner, training_id)
    with tempfile.TemporaryDirectory(prefix="publish-") as work:
        adapter = Path(work) / STAGED_ADAPTER
        try:
            metadata = _checked_staging(data, staged, adapter, owner, training_id, model_id)
        except InvalidStagedModel as refused:
            log.warning("model not published", extra={"training_id": training_id, "reason": str(refused)})
            _verdict(data, verdict_key, Publication(
                training_id=training_id, model_id=model_id, status="refused",
                reason=f"the trained model was not published: {refused}",
            ))  # fmt: skip
            return "refused"
        archive = package_user_model(
            model_id, adapter, metadata.model_dump(mode="json"), Path(work) / "model.tar.gz"
        )
        with archive.open("rb") as body:
            hosting.upload_file(
                keys.model_key(owner, model_id), body, "application/gzip", metadata=_family_metadata(metadata)
            )
    _verdict(data, verdict_key, Publication(training_id=training_id, model_id=model_id, status="published"))
    for name in (STAGED_ADAPTER, STAGED_METADATA):  # the published archive holds them now
        data.delete(staged + name)
    log.info("model published", extra={"training_id": training_id, "model_id": model_id})
    return "published"


def _checked_staging(
    data: Bucket, staged: str, adapter: Path, owner: str, training_id: str, model_id: str
) -> ModelMetadata:
    raw_metadata = data.get_bytes(staged + STAGED_METADATA)
    size = data.size_of(staged + STAGED_ADAPTER)
    if raw_metadata is None or size is None:
        raise InvalidStagedModel("the training staged no adapter and metadata")
    if size > MAX_ADAPTER_BYTES:
        raise InvalidStagedModel(f"the adapter is {size} bytes; at most {MAX_ADAPTER_BYTES}")
    metadata = check_metadata(raw_metadata, owner=owner, training_id=training_id, model_id=model_id)
    data.client.download_file(data.name, staged + STAGED_ADAPTER, str(adapter))
    with adapter.open("rb") as stream:
        check_adapter(stream, adapter.stat().st_size, metadata)
    return metadata


def _family_metadata(metadata: ModelMetadata) -> dict[str, str]:
    """The archive object's user metadata: the model's base family (read back by domain.generations)."""
    return {ARTIFACT_FAMILY_METADATA: str(family_of(metadata.model_dump(mode="json")))}


def _verdict(data: Bucket, key: str, publication: Publication) -> None:
    data.put_json(key, publication.model_dump(mode="json"))
