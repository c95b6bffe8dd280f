"""A completed training's previews in GET /trainings/{training_id}: screened by the generations' image
moderation (the `outputs` stage) before any is listed or presigned (docs/moderation.md, "Previews").

Each preview is screened once: the verdicts (labels per preview key; none: shown) are kept in the training
record, so later reads presign without calling Rekognition again. A flagged preview is withheld with its
labels. When Rekognition fails, `closed` withholds the previews not screened yet (reason
`moderation_unavailable`; the next read tries again) and `open` shows them; neither verdict is kept.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from avatar_api.domain.moderation import label_entries
from avatar_api.domain.records import TrainingRecord
from avatar_api.domain.services import Services
from avatar_api.settings import DOWNLOAD_URL_EXPIRES_SECONDS

log = logging.getLogger(__name__)

UNAVAILABLE = "moderation_unavailable"


class WithheldPreview(BaseModel):
    """A preview that is not shown, in place of its URL."""

    index: int = Field(description="Its position among the training's previews (as in the metrics)")
    reason: str = Field(
        description="content_blocked (labels say why) or moderation_unavailable (ask again later)"
    )
    labels: list[dict[str, str | float]] = Field(
        default_factory=list, description="The moderation labels: name, category, confidence"
    )


def shown_previews(
    services: Services, owner: str, record: TrainingRecord, etag: str | None, preview_keys: list[str]
) -> tuple[list[str], list[WithheldPreview]]:
    """Presigned URLs of the previews that may be shown, and the withheld ones. `preview_keys` are the
    training's own (already held to its preview prefix); `etag` is the record's, to keep new verdicts."""
    moderator = services.moderation
    if moderator is None or not moderator.policy.outputs.enabled:
        return [services.data.presigned_get(key, DOWNLOAD_URL_EXPIRES_SECONDS) for key in preview_keys], []
    verdicts = dict(record.preview_labels or {})
    unscreened = [key for key in preview_keys if key not in verdicts]
    unavailable: set[str] = set()
    images = {key: services.data.get_bytes(key) for key in unscreened}
    present = [key for key, data in images.items() if data is not None]
    missing = set(unscreened) - set(present)  # nothing to screen or show
    if present:
        found = moderator.screen_previews([images[key] or b"" for key in present])
        if found is None:
            if moderator.policy.outputs.on_failure == "closed":
                unavailable = set(present)
        else:
            verdicts.update({key: label_entries(labels) for key, labels in zip(present, found, strict=True)})
            _keep(services, owner, record, etag, verdicts)
    urls: list[str] = []
    withheld: list[WithheldPreview] = []
    for index, key in enumerate(preview_keys):
        if key in missing:
            continue
        if key in unavailable:
            withheld.append(WithheldPreview(index=index, reason=UNAVAILABLE))
        elif verdicts.get(key):
            withheld.append(WithheldPreview(index=index, reason="content_blocked", labels=verdicts[key]))
        else:
            urls.append(services.data.presigned_get(key, DOWNLOAD_URL_EXPIRES_SECONDS))
    return urls, withheld


def _keep(
    services: Services,
    owner: str,
    record: TrainingRecord,
    etag: str | None,
    verdicts: dict[str, list[dict[str, str | float]]],
) -> None:
    """Store the verdicts in the record if it is unchanged since it was read (else the next read screens
    again: the status consumer may be writing it)."""
    if etag is None:
        return
    try:
        services.records.replace(owner, record.model_copy(update={"preview_labels": verdicts}), etag)
    except Exception:
        log.warning("preview verdicts not kept (record changed)", extra={"training_id": record.training_id})
