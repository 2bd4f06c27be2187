"""ConfirmationService: the two-step confirmation of /ops/command.

A confirm token is single-use, expires, and is bound to the principal, to exactly the command, component and
params it was issued for, and to the state of the component it was issued against. Tokens live in storage as
digests, so a restart or another replica sees the same pending and used tokens."""

import json
import secrets
from datetime import timedelta

from server.clock import Clock
from server.errors import Conflict, Forbidden, Gone, InvalidRequest
from server.services.tokens import Principal, hash_token
from server.storage.confirmations import ConfirmationRepository, ConfirmationRow
from shared.control import Command, CommandParams


class ConfirmTokenInvalid(InvalidRequest):
    code = "confirm_token_invalid"


class ConfirmTokenUsed(Conflict):
    code = "confirm_token_used"


class ConfirmTokenExpired(Gone):
    code = "confirm_token_expired"


class ConfirmTokenMismatch(Conflict):
    code = "confirm_token_mismatch"


class ConfirmTokenPrincipalMismatch(Forbidden):
    code = "confirm_token_principal_mismatch"


class ConfirmTokenStale(Conflict):
    code = "confirm_token_stale"


def _canonical_params(params: CommandParams) -> str:
    return json.dumps(params.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))


def _expired(row: ConfirmationRow) -> ConfirmTokenExpired:
    # The token's own lifetime: the setting may have changed since it was issued (or another replica issued it).
    lifetime = round((row.expires_at - row.issued_at).total_seconds())
    return ConfirmTokenExpired(f"confirm_token expired after {lifetime} s; request a new one")


class ConfirmationService:
    def __init__(self, repository: ConfirmationRepository, clock: Clock, *, ttl_seconds: int) -> None:
        self._repository = repository
        self._clock = clock
        self.ttl_seconds = ttl_seconds

    async def issue(
        self, principal: Principal, command: Command, component: str, params: CommandParams, fingerprint: str
    ) -> str:
        token = "confirm_" + secrets.token_urlsafe(24)
        now = self._clock.now()
        await self._repository.insert(
            ConfirmationRow(
                token_hash=hash_token(token),
                principal=principal.name,
                command=command,
                component=component,
                params=_canonical_params(params),
                state_fingerprint=fingerprint,
                issued_at=now,
                expires_at=now + timedelta(seconds=self.ttl_seconds),
                used_at=None,
            ),
            # Tokens that expired a day ago can go; the rest stay to tell "expired" and "used" apart.
            purge_expired_before=now - timedelta(days=1),
        )
        return token

    async def redeem(
        self,
        token: str,
        principal: Principal,
        command: Command,
        component: str,
        params: CommandParams,
        fingerprint: str,
    ) -> None:
        """Consume `token` for exactly this request, or raise the error that says why it cannot be."""
        digest = hash_token(token)
        row = await self._repository.get(digest)
        if row is None:
            raise ConfirmTokenInvalid("confirm_token is not one this server issued; request a new confirmation")
        if row.principal != principal.name:
            raise ConfirmTokenPrincipalMismatch("confirm_token was issued to a different principal")
        differences = [
            name
            for name, issued, asked in (
                ("command", row.command, command),
                ("component", row.component, component),
                ("params", row.params, _canonical_params(params)),
            )
            if issued != asked
        ]
        if differences:
            raise ConfirmTokenMismatch(
                f"confirm_token was issued for {row.command} {row.component} with other "
                f"{', '.join(differences)}; it confirms only exactly what it was issued for"
            )
        if row.used_at is not None:
            raise ConfirmTokenUsed("confirm_token was already used; each token confirms one execution")
        now = self._clock.now()
        if row.expires_at <= now:
            raise _expired(row)
        if row.state_fingerprint != fingerprint:
            raise ConfirmTokenStale(
                f"{component} changed since the token was issued; re-read the status and request a new confirmation"
            )
        if not await self._repository.consume(digest, now):
            # Lost a race to another redeemer (or expired in between): say which.
            latest = await self._repository.get(digest)
            if latest is not None and latest.used_at is not None:
                raise ConfirmTokenUsed("confirm_token was already used; each token confirms one execution")
            raise _expired(row)
