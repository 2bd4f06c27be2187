-- Tokens: only the SHA-256 of a token is stored, never the token.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Pending and used confirmations of /ops/command. Shared state: replicas and restarts see the same rows.
CREATE TABLE confirmations (
    token_hash TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    command TEXT NOT NULL,
    component TEXT NOT NULL,
    params TEXT NOT NULL,
    state_fingerprint TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX confirmations_expires ON confirmations (expires_at);

-- Append-only, hash-chained audit log: each row carries the hash of the previous one.
CREATE TABLE audit_log (
    entry_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    principal TEXT,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
