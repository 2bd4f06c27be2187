"""Standard Webhooks signatures (https://www.standardwebhooks.com/): a `whsec_` secret is base64 of random bytes;
a delivery is signed with HMAC-SHA256, keyed by those bytes, over `{webhook-id}.{webhook-timestamp}.{body}`, and the
`webhook-signature` header lists `v1,<base64 of the MAC>` for each secret that signs, space separated."""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from shared.webhooks import SECRET_PREFIX

SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>`: one secret's signature of one attempt."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: the current secret's signature first, then the previous one's, if any."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)
