"""ops-server's subcommands: token create/list/revoke, migrate, audit verify. Run in-process through
`server.cli.main` (in a thread where a test also runs an app: the CLI starts its own event loop)."""

import asyncio
import contextlib
import sqlite3
import subprocess
import sys

import pytest

from server.cli import main
from server.storage.database import _migrations


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _cli_in_thread(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _sql(path, statement: str) -> list[tuple]:
    """Run one statement on the database file directly, as someone with file access could."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement).fetchall()


def _create_args(name: str, scopes: str, data_dir) -> list[str]:
    return ["token", "create", "--name", name, "--scopes", scopes, "--data-dir", str(data_dir)]


def _create(capsys, data_dir, name: str = "reader", scopes: str = "ops:read") -> str:
    code, out, _ = _cli(capsys, *_create_args(name, scopes, data_dir))
    assert code == 0
    return out.strip().splitlines()[-1]


class TestTokenCreate:
    def test_token_create_prints_the_token_on_its_last_line(self, capsys, tmp_path):
        code, out, _ = _cli(
            capsys, "token", "create", "--name", "ci", "--scopes", "ops:read", "--data-dir", str(tmp_path)
        )

        assert code == 0
        lines = out.strip().splitlines()
        assert lines[-1].startswith("ops_")
        assert "shown only once" in lines[0]

    async def test_a_created_token_works_against_an_app_on_the_same_data_dir(self, capsys, start_app, make_settings):
        settings = make_settings()
        code, out, _ = await _cli_in_thread(
            capsys, "token", "create", "--name", "n", "--scopes", "ops:read", "--data-dir", str(settings.data_dir)
        )
        assert code == 0
        token = out.strip().splitlines()[-1]
        client = await start_app(settings)

        whoami = await client.get("/ops/whoami", headers={"Authorization": f"Bearer {token}"})
        status = await client.get("/ops/status", headers={"Authorization": f"Bearer {token}"})
        command = await client.post(
            "/ops/command",
            json={"command": "restart", "component": "mt5_bridge"},
            headers={"Authorization": f"Bearer {token}"},
        )

        assert await whoami.json() == {"principal": "n", "scopes": ["ops:read"]}
        assert status.status == 200
        assert command.status == 403  # only the scopes it was given

    def test_an_unknown_scope_fails_naming_it(self, capsys, tmp_path):
        code, out, err = _cli(
            capsys, "token", "create", "--name", "x", "--scopes", "ops:read,ops:everything", "--data-dir", str(tmp_path)
        )

        assert code != 0
        assert "ops:everything" in err
        assert "ops_" not in out

    def test_a_taken_name_fails(self, capsys, tmp_path):
        _create(capsys, tmp_path, "dup")

        code, _, err = _cli(
            capsys, "token", "create", "--name", "dup", "--scopes", "ops:read", "--data-dir", str(tmp_path)
        )

        assert code != 0
        assert "dup" in err

    def test_missing_arguments_exit_with_usage(self, capsys, tmp_path):
        with pytest.raises(SystemExit) as exit_info:
            main(["token", "create", "--name", "x", "--data-dir", str(tmp_path)])

        assert exit_info.value.code == 2
        assert "--scopes" in capsys.readouterr().err


class TestTokenListAndRevoke:
    def test_token_list_shows_names_and_scopes_never_values(self, capsys, tmp_path):
        reader = _create(capsys, tmp_path, "reader", "ops:read")
        operator = _create(capsys, tmp_path, "operator", "ops:read,ops:command")

        code, out, _ = _cli(capsys, "token", "list", "--data-dir", str(tmp_path))

        assert code == 0
        assert "reader" in out and "operator" in out
        assert "ops:command,ops:read" in out
        assert reader not in out and operator not in out
        assert "ops_" not in out

    def test_token_revoke_marks_the_token_revoked(self, capsys, tmp_path):
        _create(capsys, tmp_path, "reader")

        code, out, _ = _cli(capsys, "token", "revoke", "reader", "--data-dir", str(tmp_path))
        assert code == 0
        assert "revoked token 'reader'" in out

        _, listing, _ = _cli(capsys, "token", "list", "--data-dir", str(tmp_path))
        line = next(line for line in listing.splitlines() if line.startswith("reader"))
        assert "revoked" in line

    async def test_a_token_revoked_by_the_cli_stops_working_on_a_running_app(self, capsys, start_app, make_settings):
        settings = make_settings()
        code, out, _ = await _cli_in_thread(
            capsys, "token", "create", "--name", "r", "--scopes", "ops:read", "--data-dir", str(settings.data_dir)
        )
        token = out.strip().splitlines()[-1]
        client = await start_app(settings)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/ops/status", headers=headers)).status == 200

        code, _, _ = await _cli_in_thread(capsys, "token", "revoke", "r", "--data-dir", str(settings.data_dir))

        assert code == 0
        assert (await client.get("/ops/status", headers=headers)).status == 401

    def test_revoking_an_unknown_token_fails(self, capsys, tmp_path):
        code, _, err = _cli(capsys, "token", "revoke", "ghost", "--data-dir", str(tmp_path))

        assert code != 0
        assert "ghost" in err

    def test_revoking_twice_fails_the_second_time(self, capsys, tmp_path):
        _create(capsys, tmp_path, "reader")
        assert _cli(capsys, "token", "revoke", "reader", "--data-dir", str(tmp_path))[0] == 0

        assert _cli(capsys, "token", "revoke", "reader", "--data-dir", str(tmp_path))[0] != 0


class TestMigrate:
    def test_migrate_applies_then_reports_up_to_date(self, capsys, tmp_path):
        first = _cli(capsys, "migrate", "--data-dir", str(tmp_path))
        second = _cli(capsys, "migrate", "--data-dir", str(tmp_path))

        assert first[0] == second[0] == 0
        assert "applied: 0001_initial.sql" in first[1]
        assert "up to date" in second[1]
        every_version = [(version,) for version, _, _ in _migrations()]
        assert _sql(tmp_path / "ops.sqlite3", "SELECT version FROM schema_migrations") == every_version

    async def test_migrate_on_a_database_an_app_created_changes_nothing(self, capsys, client, settings):
        code, out, _ = await _cli_in_thread(capsys, "migrate", "--data-dir", str(settings.data_dir))

        assert code == 0
        assert "up to date" in out


class TestAuditVerify:
    async def test_audit_verify_exits_0_on_an_intact_chain(self, capsys, ops, settings):
        await ops.run("restart", "mt5_bridge")
        await ops.get("/ops/status")
        await ops.client.close()

        code, out, _ = await _cli_in_thread(capsys, "audit", "verify", "--data-dir", str(settings.data_dir))

        assert code == 0
        assert "4 entries verified" in out

    async def test_audit_verify_exits_non_zero_naming_the_tampered_entry(self, capsys, ops, settings):
        await ops.run("restart", "mt5_bridge")
        await ops.get("/ops/status")
        await ops.client.close()
        _sql(settings.database_path, "UPDATE audit_log SET outcome = 'forged' WHERE entry_id = 2")

        code, out, _ = await _cli_in_thread(capsys, "audit", "verify", "--data-dir", str(settings.data_dir))

        assert code != 0
        assert "entry 2" in out
        assert "1 entries hold" in out

    async def test_audit_verify_names_an_entry_that_no_longer_parses(self, capsys, ops, settings):
        await ops.get("/ops/status")
        await ops.get("/ops/status")
        await ops.client.close()
        _sql(settings.database_path, "UPDATE audit_log SET detail = '{broken' WHERE entry_id = 2")

        code, out, _ = await _cli_in_thread(capsys, "audit", "verify", "--data-dir", str(settings.data_dir))

        assert code == 1
        assert "entry 2" in out

    def test_audit_verify_of_a_migrated_empty_log_holds(self, capsys, tmp_path):
        assert _cli(capsys, "migrate", "--data-dir", str(tmp_path))[0] == 0

        code, out, _ = _cli(capsys, "audit", "verify", "--data-dir", str(tmp_path))

        assert code == 0
        assert "0 entries verified" in out

    def test_audit_verify_of_a_missing_database_fails_and_creates_nothing(self, capsys, tmp_path):
        data_dir = tmp_path / "typo"

        code, out, err = _cli(capsys, "audit", "verify", "--data-dir", str(data_dir))

        assert code != 0
        assert "no database" in err
        assert "holds" not in out
        assert not data_dir.exists()

    async def test_audit_verify_without_the_key_says_the_signatures_were_not_checked(self, capsys, ops, settings):
        await ops.run("restart", "mt5_bridge")
        await ops.client.close()
        (settings.data_dir / "audit-key").unlink()

        code, out, err = await _cli_in_thread(capsys, "audit", "verify", "--data-dir", str(settings.data_dir))

        assert code == 2
        assert "3 entries verified" in out
        assert "NOT checked" in err

    def test_audit_prune_refuses_a_date_it_cannot_read(self, capsys, tmp_path):
        assert _cli(capsys, "migrate", "--data-dir", str(tmp_path))[0] == 0

        with pytest.raises(SystemExit) as exited:
            main(["audit", "prune", "--before", "last tuesday", "--data-dir", str(tmp_path)])

        assert exited.value.code == 2
        assert "not a date" in capsys.readouterr().err

    def test_the_installed_entry_point_runs(self, tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr
        assert "applied: 0001_initial.sql" in result.stdout


class TestSettingsSources:
    def test_data_dir_comes_from_the_environment_without_the_flag(self, capsys, tmp_path, monkeypatch):
        monkeypatch.setenv("OPS_DATA_DIR", str(tmp_path / "from-env"))

        assert _cli(capsys, "migrate")[0] == 0

        assert (tmp_path / "from-env" / "ops.sqlite3").exists()

    def test_data_dir_comes_from_a_config_file(self, capsys, tmp_path):
        config = tmp_path / "ops.toml"
        config.write_text(f'data_dir = "{tmp_path / "from-file"}"\n')

        assert _cli(capsys, "migrate", "--config", str(config))[0] == 0

        assert (tmp_path / "from-file" / "ops.sqlite3").exists()

    def test_an_invalid_config_file_fails_with_a_message(self, capsys, tmp_path):
        config = tmp_path / "ops.toml"
        config.write_text("confirm_ttl_seconds = 1\n")

        code, _, err = _cli(capsys, "migrate", "--config", str(config), "--data-dir", str(tmp_path))

        assert code == 2
        assert "confirm_ttl_seconds" in err
