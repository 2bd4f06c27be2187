-- Runbook executions. Shared state: every replica sees the same runs, idempotency keys and the per-environment
-- lock, so none of it lives only in a process's memory.
CREATE TABLE runbook_runs (
    run_id INTEGER PRIMARY KEY,          -- the keyset of history pages
    request_id TEXT NOT NULL UNIQUE,     -- the idempotency key
    environment TEXT NOT NULL,
    command TEXT NOT NULL,
    fingerprint TEXT NOT NULL,           -- SHA-256 of the request as validated: same key, other body -> 422
    request TEXT NOT NULL,               -- the request as validated, JSON
    principal TEXT,
    status TEXT NOT NULL,                -- running, success, failed, timeout, aborted
    exit_code INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    health TEXT,                         -- the health report, JSON
    response_status INTEGER,             -- the stored answer, replayed byte for byte
    response_body BLOB,
    token_name TEXT,                     -- the script's short-lived token
    token_expires_at TEXT,               -- the run's deadline: its token is revoked and the run ended by then even
                                         -- if its server died; NULL once the sweep or the run itself saw to it
    abort_requested INTEGER NOT NULL DEFAULT 0
);
-- One runbook at a time per environment, held by the database itself: a second insert of a running row fails.
CREATE UNIQUE INDEX runbook_runs_one_running ON runbook_runs (environment) WHERE status = 'running';
CREATE INDEX runbook_runs_command ON runbook_runs (command, run_id);
CREATE INDEX runbook_runs_token_expiry ON runbook_runs (token_expires_at) WHERE token_expires_at IS NOT NULL;

CREATE TABLE runbook_logs (
    run_id INTEGER NOT NULL REFERENCES runbook_runs (run_id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
