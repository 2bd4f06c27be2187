"""Opaque, signed page cursors: the position a page ended at and the filter it was read with, signed with
HMAC-SHA256 under a key kept outside the database (derived from the audit key), so a cursor can be neither forged
nor edited nor reused with another filter. A bad cursor is a 400, never a page from a made-up position."""

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from server.errors import InvalidRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class BadCursor(InvalidRequest):
    code = "invalid_cursor"


class CursorSigner:
    def __init__(self, secret: bytes, *, purpose: str) -> None:
        # A key of its own per purpose: a worklist cursor does not verify as a transactions cursor.
        self._key = hmac.new(secret, f"ops-agent-cursor:{purpose}".encode(), hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, position: dict[str, Any], *, scope: dict[str, Any]) -> str:
        payload = json.dumps({"p": position, "s": scope}, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, *, scope: dict[str, Any]) -> dict[str, Any]:
        """The position `cursor` holds; BadCursor if it was not made here, was edited, or was made for another
        filter (`scope`)."""
        body, _, mac = cursor.partition(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise BadCursor("the cursor is not one this server gave out") from None
        if not hmac.compare_digest(self._mac(payload), given):
            raise BadCursor("the cursor is not one this server gave out")
        data = json.loads(payload)
        if data.get("s") != scope:
            raise BadCursor("the cursor belongs to a page with other filters: start again without it")
        position = data.get("p")
        if not isinstance(position, dict):
            raise BadCursor("the cursor is not one this server gave out")
        return position
