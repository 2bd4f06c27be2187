"""Authentication and scopes: bearer tokens, revocation, scope checks, hashed storage, the admin token."""

import asyncio
import hashlib
import os
import stat

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from server.errors import Conflict, InvalidRequest
from server.keys import DB, TOKENS
from server.services.tokens import ADMIN_ENV_PRINCIPAL, NOT_CACHED, TokenService, hash_token
from server.settings import Settings
from server.storage.tokens import TokenRepository
from shared.scopes import ALL_SCOPES

READ_ROUTES = ["/ops/status", "/ops/runbook", "/ops/audit"]
EVERY_ROUTE = [("GET", "/ops/whoami"), *(("GET", path) for path in READ_ROUTES), ("POST", "/ops/command")]
COMMAND = {"command": "restart", "component": "mt5_bridge"}


class TestBearerToken:
    @pytest.mark.parametrize(("method", "path"), EVERY_ROUTE)
    async def test_missing_token_is_401_with_a_bearer_challenge(self, client, method, path):
        response = await client.request(method, path, json=COMMAND if method == "POST" else None)

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="ops"'
        body = await response.json()
        assert body["error"] == "unauthorized"
        assert "missing bearer token" in body["detail"]

    @pytest.mark.parametrize(
        "authorization",
        ["Bearer not-a-token", "Bearer admin-secret-but-longer", "Basic YWRtaW46c2VjcmV0", "Bearer", "admin-secret"],
    )
    async def test_bad_token_is_401_invalid_token(self, client, authorization):
        response = await client.get("/ops/status", headers={"Authorization": authorization})

        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="ops"'
        assert (await response.json())["error"] == "invalid_token"

    async def test_overlong_token_is_401(self, client):
        response = await client.get("/ops/status", headers={"Authorization": "Bearer " + "a" * 1000})

        assert response.status == 401

    @pytest.mark.parametrize("raw_token", [b"\xff\xfe", b"ops_\xc3", "p\u00e4ss".encode()])
    async def test_a_token_that_is_not_utf8_is_401_not_500(self, client, raw_token):
        response = await _raw_get(client, b"/ops/status", b"Authorization: Bearer " + raw_token)

        assert response.startswith(b"HTTP/1.1 401 "), response[:200]
        assert b'"invalid_token"' in response

    async def test_bearer_scheme_is_case_insensitive(self, client, admin_token):
        response = await client.get("/ops/whoami", headers={"Authorization": f"bearer {admin_token}"})

        assert response.status == 200

    async def test_created_token_authenticates_as_its_name(self, ops, reader_token):
        response = await ops.get("/ops/whoami", token=reader_token)

        assert (await response.json())["principal"] == "reader"

    async def test_revoked_token_is_401(self, ops, reader_token):
        assert (await ops.get("/ops/status", token=reader_token)).status == 200

        await ops.app[TOKENS].revoke("reader")

        response = await ops.get("/ops/status", token=reader_token)
        assert response.status == 401
        assert (await response.json())["error"] == "invalid_token"

    async def test_token_revoked_by_another_process_is_401_once_the_cache_lapses(self, ops, reader_token, clock):
        """The CLI revokes through its own TokenService; with token_cache_seconds=0 the app sees it at once."""
        assert (await ops.get("/ops/status", token=reader_token)).status == 200

        await TokenService(TokenRepository(ops.app[DB]), clock).revoke("reader")

        assert (await ops.get("/ops/status", token=reader_token)).status == 401

    async def test_cached_token_outlives_an_out_of_process_revocation_only_for_the_cache_time(
        self, start_app, make_settings, clock
    ):
        client = await start_app(make_settings(token_cache_seconds=3600))
        tokens = client.app[TOKENS]
        token = await tokens.create("reader", "ops:read")
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/ops/status", headers=headers)).status == 200

        await TokenService(TokenRepository(client.app[DB]), clock).revoke("reader")

        # Documented trade-off: a cached principal stays valid until its cache entry lapses...
        assert (await client.get("/ops/status", headers=headers)).status == 200
        # ...while a revocation through the app's own service clears the cache at once.
        await tokens.create("other", "ops:read")
        await tokens.revoke("other")
        assert (await client.get("/ops/status", headers=headers)).status == 401

    async def test_the_cache_answers_only_what_was_checked_against_the_database(self, start_app, make_settings):
        client = await start_app(make_settings(token_cache_seconds=3600))
        tokens = client.app[TOKENS]
        token = await tokens.create("reader", "ops:read")

        assert tokens.cached("admin-secret").name == ADMIN_ENV_PRINCIPAL  # the configured admin needs no lookup
        assert tokens.cached(token) is NOT_CACHED
        assert tokens.cached("ops_nobody") is NOT_CACHED

        assert (await tokens.authenticate(token)).name == "reader"
        assert await tokens.authenticate("ops_nobody") is None

        assert tokens.cached(token).name == "reader"
        assert tokens.cached("ops_nobody") is None  # known invalid: no database trip for a repeated bad token
        await tokens.revoke("reader")
        assert tokens.cached(token) is NOT_CACHED

    async def test_the_cache_answers_nothing_once_its_time_is_up(self, start_app, make_settings):
        client = await start_app(make_settings(token_cache_seconds=0))
        tokens = client.app[TOKENS]
        token = await tokens.create("reader", "ops:read")

        assert (await tokens.authenticate(token)).name == "reader"

        assert tokens.cached(token) is NOT_CACHED


class TestScopes:
    async def test_token_without_ops_command_is_403_insufficient_scope_on_command(self, ops, reader_token):
        response = await ops.post(COMMAND, token=reader_token)

        assert response.status == 403
        body = await response.json()
        assert body["error"] == "insufficient_scope"
        assert "ops:command" in body["detail"]
        assert ops.table("confirmations") == []

    @pytest.mark.parametrize("path", READ_ROUTES)
    async def test_token_without_ops_read_is_403_on_reads(self, ops, path):
        token = await ops.create_token("commander", "ops:command")

        response = await ops.get(path, token=token)

        assert response.status == 403
        body = await response.json()
        assert body["error"] == "insufficient_scope"
        assert "ops:read" in body["detail"]

    async def test_token_with_ops_command_may_request_a_command(self, ops, operator_token):
        response = await ops.post(COMMAND, token=operator_token)

        assert response.status == 200
        assert (await response.json())["requires_confirmation"] is True

    async def test_admin_token_has_every_scope(self, ops, admin_token):
        body = await (await ops.get("/ops/whoami", token=admin_token)).json()

        assert set(body["scopes"]) == ALL_SCOPES
        for path in READ_ROUTES:
            assert (await ops.get(path, token=admin_token)).status == 200
        assert (await ops.post(COMMAND, token=admin_token)).status == 200

    async def test_admin_token_from_the_environment_works(self, start_app, tmp_path, monkeypatch):
        monkeypatch.setenv("OPS_API_TOKEN", "from-the-env")
        client = await start_app(Settings(data_dir=tmp_path, plant_tick_seconds=3600))

        response = await client.get("/ops/whoami", headers={"Authorization": "Bearer from-the-env"})

        assert response.status == 200
        assert (await response.json())["principal"] == "env:OPS_API_TOKEN"


class TestTokenStorage:
    async def test_tokens_are_stored_hashed_never_in_plain(self, ops, settings):
        token = await ops.create_token("reader", "ops:read")
        assert (await ops.get("/ops/status", token=token)).status == 200

        files = [p for p in settings.data_dir.iterdir() if p.name.startswith(settings.database_path.name)]
        stored = b"".join(p.read_bytes() for p in files)
        assert token.encode() not in stored
        assert b"admin-secret" not in stored
        rows = ops.table("api_tokens")
        assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]

    async def test_created_tokens_are_distinct_and_prefixed(self, ops):
        tokens = {await ops.create_token(f"t{i}", "ops:read") for i in range(5)}

        assert len(tokens) == 5
        assert all(t.startswith("ops_") and len(t) > 40 for t in tokens)

    async def test_creating_a_token_with_a_taken_name_is_refused(self, ops):
        await ops.create_token("reader", "ops:read")

        with pytest.raises(Conflict):
            await ops.create_token("reader", "ops:read")

    @pytest.mark.parametrize("name", ["env:OPS_API_TOKEN", "env:anything"])
    async def test_a_token_cannot_take_the_admins_principal_name(self, ops, name):
        """Confirm tokens and rate limits are bound to the principal's name: a stored token named like the
        OPS_API_TOKEN admin could confirm the admin's commands."""
        with pytest.raises(InvalidRequest, match="reserved"):
            await ops.create_token(name, "ops:read,ops:command")

    @pytest.mark.parametrize("name", ["", "   ", "n" * 65])
    async def test_a_token_name_must_be_1_to_64_characters(self, ops, name):
        with pytest.raises(InvalidRequest, match="1 to 64"):
            await ops.create_token(name, "ops:read")

    async def test_creating_a_token_with_an_unknown_scope_is_refused(self, ops):
        with pytest.raises(InvalidRequest, match="ops:write"):
            await ops.create_token("writer", "ops:write")


class TestBootstrapAdmin:
    async def test_first_start_without_tokens_writes_a_private_admin_token_file(self, start_app, make_settings):
        settings = make_settings(api_token=None)
        client = await start_app(settings)

        token_file = settings.admin_token_file
        assert token_file.parent == settings.data_dir
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        response = await client.get("/ops/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        body = await response.json()
        assert body["principal"] == "bootstrap-admin"
        assert set(body["scopes"]) == ALL_SCOPES

    async def test_a_failed_first_start_leaves_no_unreadable_admin_behind(self, start_app, make_settings):
        settings = make_settings(api_token=None)
        settings.admin_token_file.mkdir(parents=True)  # in the way: the token cannot be written

        with pytest.raises(OSError):
            await start_app(settings)
        settings.admin_token_file.rmdir()
        client = await start_app(settings)

        token = settings.admin_token_file.read_text().strip()
        response = await client.get("/ops/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200

    async def test_second_start_keeps_the_first_admin_token(self, start_app, make_settings):
        settings = make_settings(api_token=None)
        first = await start_app(settings)
        token = settings.admin_token_file.read_text()
        await first.close()

        second = await start_app(settings)

        assert settings.admin_token_file.read_text() == token
        response = await second.get("/ops/whoami", headers={"Authorization": f"Bearer {token.strip()}"})
        assert response.status == 200

    async def test_no_admin_token_file_when_an_api_token_is_configured(self, client, settings):
        assert not settings.admin_token_file.exists()


async def _raw_get(client, path: bytes, header: bytes) -> bytes:
    """A request written byte by byte, for headers an HTTP client library would refuse to send."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: ops\r\n" + header + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response


# Hypothesis's own text() all but never draws a lone surrogate (its alphabet's branches are merged into one set
# of code points, in which they are rare), so these draw characters from a list of branches, each as likely.
# The surrogates surrogateescape makes of bytes that are not UTF-8, U+DC80 to U+DCFF, encode back to those bytes;
_ESCAPED_BYTE = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
_ENCODABLE_TEXT = st.lists(st.characters() | _ESCAPED_BYTE).map("".join)
# any other lone surrogate encodes to nothing at all.
_ANY_TEXT = st.lists(st.characters(exclude_categories=()) | _ESCAPED_BYTE | st.characters(categories=["Cs"])).map(
    "".join
)


def _reference_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _digest_or_error(digest_of, token: str) -> str:
    try:
        return digest_of(token)
    except UnicodeEncodeError as exc:
        return f"UnicodeEncodeError at {exc.start}"


class TestHashToken:
    @given(token=_ENCODABLE_TEXT)
    @example(token="admin-secret")
    @example(token="ops_\udcff\udc80")  # the bytes ff 80, as a header that is not UTF-8 reaches the server
    def test_the_digest_is_hashlibs_sha256_of_the_surrogateescaped_utf8(self, token):
        assert hash_token(token) == _reference_digest(token)

    @given(raw=st.binary())
    @example(raw=b"\xff\xfe not utf-8")
    def test_a_token_decoded_with_surrogateescape_hashes_as_its_original_bytes(self, raw):
        assert hash_token(raw.decode("utf-8", "surrogateescape")) == hashlib.sha256(raw).hexdigest()

    @given(token=_ANY_TEXT)
    @example(token="ops_\ud800")  # no bytes decode to it
    def test_text_with_any_lone_surrogate_hashes_or_fails_exactly_as_hashlib_does(self, token):
        assert _digest_or_error(hash_token, token) == _digest_or_error(_reference_digest, token)
