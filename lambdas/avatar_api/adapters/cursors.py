"""Page cursors of the list routes (docs/api.md, "Pages"): opaque to the caller, bound to its owner.

A cursor names where the next page starts (for GET /models: the training id to continue after) and
carries an HMAC of that position and the owner under the deployment's owner-id key, so a caller can
neither forge a position nor use another owner's cursor; either is refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.errors import InvalidRequest

CURSOR_MAX_CHARS = 200
_MAC_CHARS = 32


def make_cursor(owner_ids: OwnerIds, owner: str, listing: str, position: str) -> str:
    """The cursor of `position` in the owner's `listing` (e.g. "models")."""
    mac = owner_ids.mac(f"cursor:{listing}:{owner}:{position}")[:_MAC_CHARS]
    return base64.urlsafe_b64encode(f"{position}.{mac}".encode()).decode().rstrip("=")


def read_cursor(
    owner_ids: OwnerIds, owner: str, listing: str, cursor: str, position_re: re.Pattern[str]
) -> str:
    """The position `cursor` names; InvalidRequest unless this owner got it for this listing."""
    invalid = InvalidRequest("cursor: not a cursor of this listing (pass next_cursor as it came)")
    if len(cursor) > CURSOR_MAX_CHARS:
        raise invalid
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid from None
    position, _, mac = text.rpartition(".")
    if not position_re.fullmatch(position):
        raise invalid
    expected = owner_ids.mac(f"cursor:{listing}:{owner}:{position}")[:_MAC_CHARS]
    if not hmac.compare_digest(mac, expected):
        raise invalid
    return position
