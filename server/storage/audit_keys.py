"""The audit log's signing key: HMAC-SHA256 over its checkpoints, kept outside the database so that someone who
can rewrite the database cannot re-sign what they rewrote.

The key is `OPS_AUDIT_KEY` when set, else the file `audit-key` in the data dir (0600), made at first start."""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from server.storage.database import PRIVATE_FILE_MODE

KEY_FILE_NAME = "audit-key"


class AuditKey:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the audit key is empty")
        self.secret = secret
        # Names the key in each checkpoint, so a verify with another key says so instead of "forged".
        self.key_id = hashlib.sha256(b"ops-audit-key-id\n" + secret).hexdigest()[:16]

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def signed(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature)


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE_NAME


def load_audit_key(configured: str | None, data_dir: Path, *, create: bool) -> AuditKey | None:
    """The configured key, else the key file's; with `create`, a missing key file is made (32 random bytes, hex,
    0600). None when there is no key and `create` is false."""
    if configured:
        return AuditKey(configured.encode())
    path = key_file(data_dir)
    try:
        return AuditKey(path.read_text(encoding="ascii").strip().encode())
    except FileNotFoundError:
        if not create:
            return None
    text = secrets.token_hex(32)
    # Written whole under a name of its own, then linked into place: no one ever reads a half-written key, and
    # of two processes starting at once, one key wins.
    draft = path.with_name(f".{KEY_FILE_NAME}.{secrets.token_hex(8)}")
    with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "w", encoding="ascii") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        return AuditKey(path.read_text(encoding="ascii").strip().encode())
    finally:
        draft.unlink()
    return AuditKey(text.encode())
