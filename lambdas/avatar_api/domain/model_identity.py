"""What `<<TOK>>` renders as for one model, so that generation prompts are moderated as the engine renders
them (`avatar_contract.prompts.personalize`, the engine's `render_prompt`).

A model's training record names its token and class noun (written at submission). Records from before
the service picked tokens do not; for those the artifact's `metadata.json` (what the engine itself reads)
is read once per function instance and kept in memory: a full read of the archive, about the size of the
adapter (tens of MB at the default ranks), once per such model and instance.
"""

from __future__ import annotations

import json
import logging
import tarfile
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from avatar_api.domain.services import Services
from avatar_api.errors import UpstreamError
from avatar_contract import keys
from avatar_contract.names import Triton
from avatar_contract.prompts import DEFAULT_CLASS_NOUN, class_noun

log = logging.getLogger(__name__)

MAX_CACHED = 1024  # legacy models remembered per function instance
METADATA_MAX_BYTES = 1 << 20
_cache: dict[tuple[str, str], dict[str, str]] = {}
_lock = threading.Lock()


def model_identity(services: Services, owner: str, model_id: str) -> dict[str, str]:
    """`token` and `class_noun` of the owner's model (for `personalize`)."""
    record = services.records.find_by_model(owner, model_id)
    if record is not None and record.token:
        return {"token": record.token, "class_noun": record.class_noun or DEFAULT_CLASS_NOUN}
    with _lock:
        cached = _cache.get((owner, model_id))
    if cached is not None:
        return cached
    metadata = _artifact_metadata(services, keys.model_key(owner, model_id))
    token = str(metadata.get("token") or "").strip()
    if not token:
        raise UpstreamError(f"model {model_id!r} names no token; it cannot render <<TOK>>")
    identity = {"token": token, "class_noun": class_noun(metadata)}
    with _lock:
        if len(_cache) >= MAX_CACHED:
            _cache.pop(next(iter(_cache)))
        _cache[(owner, model_id)] = identity
    return identity


def _artifact_metadata(services: Services, key: str) -> dict[str, Any]:
    """The `<model_id>/1/metadata.json` of the artifact at `key`, read as a stream."""
    suffix = f"/{Triton.VERSION_DIR}/{Triton.METADATA_FILE}"
    try:
        body = services.hosting.client.get_object(Bucket=services.hosting.name, Key=key)["Body"]
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(suffix) and member.size <= METADATA_MAX_BYTES:
                    handle = archive.extractfile(member)
                    document = json.loads(handle.read()) if handle is not None else None
                    if isinstance(document, dict):
                        return document
    except (tarfile.TarError, OSError, EOFError, ValueError, BotoCoreError, ClientError) as error:
        log.warning("unreadable model artifact", extra={"key": key, "error": type(error).__name__})
    raise UpstreamError("the model's artifact has no readable metadata; it cannot render <<TOK>>")
