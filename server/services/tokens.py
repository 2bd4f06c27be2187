"""TokenService: creates, lists, revokes and checks bearer tokens. Tokens are stored as SHA-256 digests and
compared in constant time; the plain token exists only in the creator's hands."""

import enum
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from server.clock import Clock
from server.errors import Conflict, InvalidRequest, NotFound
from server.storage.tokens import TokenRepository, TokenRow
from shared.scopes import ALL_SCOPES, parse_scopes

TOKEN_PREFIX = "ops_"
RESERVED_NAME_PREFIX = "env:"  # principals that are not stored tokens, such as the OPS_API_TOKEN admin
ADMIN_ENV_PRINCIPAL = RESERVED_NAME_PREFIX + "OPS_API_TOKEN"
BOOTSTRAP_ADMIN = "bootstrap-admin"


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class NotCached(enum.Enum):
    NOT_CACHED = "not cached"


NOT_CACHED = NotCached.NOT_CACHED


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain SHA-256 is enough: there is nothing to brute-force.
    # surrogateescape: a header with bytes that are not UTF-8 reaches us as lone surrogates; hash its bytes.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenService:
    def __init__(
        self,
        tokens: TokenRepository,
        clock: Clock,
        *,
        admin_token: str | None = None,
        cache_seconds: float = 5.0,
    ) -> None:
        self._tokens = tokens
        self._clock = clock
        self._admin_hash = hash_token(admin_token) if admin_token else None
        self._admin = Principal(ADMIN_ENV_PRINCIPAL, ALL_SCOPES)
        self._cache_seconds = cache_seconds
        # digest -> (principal or None, monotonic expiry). Revocation reaches a cached token within cache_seconds.
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def create(self, name: str, scopes: str | frozenset[str]) -> str:
        name = name.strip()
        if not name or len(name) > 64:
            raise InvalidRequest("token name must be 1 to 64 characters")
        if name.startswith(RESERVED_NAME_PREFIX):
            # The name is the principal: confirm tokens, rate limits and the audit tell callers apart by it.
            raise InvalidRequest(f"token names starting with '{RESERVED_NAME_PREFIX}' are reserved")
        try:
            scope_set = parse_scopes(scopes) if isinstance(scopes, str) else frozenset(scopes)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if await self._tokens.by_name(name) is not None:
            raise Conflict(f"a token named '{name}' exists already")
        token = new_token()
        await self._tokens.insert(name, hash_token(token), scope_set, self._clock.now())
        return token

    async def list(self) -> list[TokenRow]:
        return await self._tokens.all()

    async def revoke(self, name: str) -> None:
        if not await self._tokens.revoke(name, self._clock.now()):
            raise NotFound(f"no active token named '{name}'")
        self._cache.clear()

    async def ensure_bootstrap_admin(self, token_file: Path) -> Path | None:
        """At first start with no token at all, create an admin token and leave it in a 0600 file.
        Returns the file's path when it created one."""
        if self._admin_hash is not None or await self._tokens.count_active() > 0:
            return None
        if await self._tokens.by_name(BOOTSTRAP_ADMIN) is not None:
            return None
        # The file first, the row second: a token nobody can read must never become the only admin.
        token = new_token()
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.unlink(missing_ok=True)
        fd = _open_private(token_file)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(token + "\n")
        try:
            await self._tokens.insert(BOOTSTRAP_ADMIN, hash_token(token), ALL_SCOPES, self._clock.now())
        except BaseException:
            token_file.unlink(missing_ok=True)
            raise
        return token_file

    def cached(self, token: str) -> Principal | NotCached | None:
        """The principal for `token` when the answer is known without the database: the admin token, or one
        checked within the last cache_seconds (None when it was invalid). NOT_CACHED otherwise. Synchronous:
        the hot path then awaits nothing."""
        digest = hash_token(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return self._admin
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return NOT_CACHED

    async def authenticate(self, token: str) -> Principal | None:
        known = self.cached(token)
        return await self.look_up(token) if known is NOT_CACHED else known

    async def look_up(self, token: str) -> Principal | None:
        """Check `token` against the database and cache the answer (after cached() had none)."""
        digest = hash_token(token)
        row = await self._tokens.by_hash(digest)
        principal = None
        # The lookup is by digest; comparing the stored digest in constant time as well keeps the check
        # independent of how the index matched.
        if row is not None and row.revoked_at is None and hmac.compare_digest(row.token_hash, digest):
            principal = Principal(row.name, row.scopes)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (principal, time.monotonic() + self._cache_seconds)
        return principal


def _open_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
