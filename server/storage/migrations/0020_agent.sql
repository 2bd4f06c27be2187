-- The ops agent family (contract 3): the plant's card deposits, investigations with their checkpointed steps,
-- insights, recommendations (the worklist) and rule drafts.

CREATE TABLE agent_transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,          -- keyset order of the transactions page
    transaction_id TEXT NOT NULL UNIQUE,
    occurred_at TEXT NOT NULL,                      -- ISO 8601, UTC
    occurred_ts REAL NOT NULL,                      -- the same instant in seconds, for windows
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    merchant TEXT NOT NULL,
    channel TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    ip_country TEXT NOT NULL,
    card_country TEXT NOT NULL,
    suspicious INTEGER NOT NULL DEFAULT 0,
    pattern TEXT,                                   -- the plant's own label; never shown to the engine's tools
    source TEXT NOT NULL                            -- 'plant' or 'api'
);
CREATE INDEX agent_transactions_suspicious ON agent_transactions (suspicious, seq);
CREATE INDEX agent_transactions_customer ON agent_transactions (customer_id, occurred_ts);
CREATE INDEX agent_transactions_device ON agent_transactions (device_id, occurred_ts);
CREATE INDEX agent_transactions_channel ON agent_transactions (channel, occurred_ts);

CREATE TABLE agent_investigations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    investigation_id TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL REFERENCES agent_transactions (transaction_id),
    mode TEXT NOT NULL CHECK (mode IN ('quick', 'deep')),
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    requested_by TEXT NOT NULL,
    reasoner TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms REAL,
    risk_score REAL,
    verdict TEXT,
    summary TEXT,
    error_code TEXT,
    error_message TEXT,
    resumed_count INTEGER NOT NULL DEFAULT 0
);
-- One running investigation per transaction: a second run is refused (409) by the database itself.
CREATE UNIQUE INDEX agent_investigations_one_running ON agent_investigations (transaction_id) WHERE status = 'running';
CREATE INDEX agent_investigations_status ON agent_investigations (status, seq);
CREATE INDEX agent_investigations_transaction ON agent_investigations (transaction_id, seq);

CREATE TABLE agent_steps (
    investigation_id TEXT NOT NULL REFERENCES agent_investigations (investigation_id),
    step_no INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('planner', 'tool', 'reasoning')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    started_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    body TEXT NOT NULL,                             -- the step's own fields, JSON
    PRIMARY KEY (investigation_id, step_no)
);

CREATE TABLE agent_insights (
    insight_id TEXT PRIMARY KEY,
    investigation_id TEXT NOT NULL REFERENCES agent_investigations (investigation_id),
    transaction_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    body TEXT NOT NULL                              -- kind, title, severity, confidence, evidence: JSON
);
CREATE INDEX agent_insights_transaction ON agent_insights (transaction_id, investigation_id);
CREATE INDEX agent_insights_investigation ON agent_insights (investigation_id, position);

CREATE TABLE agent_recommendations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recommendation_id TEXT NOT NULL UNIQUE,
    investigation_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    severity_rank INTEGER NOT NULL,                 -- critical 4 .. low 1: the worklist's first key
    action TEXT NOT NULL,
    rationale TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACKNOWLEDGED', 'REJECTED')),
    decided_by TEXT,
    decided_at TEXT,
    comment TEXT
);
CREATE INDEX agent_recommendations_worklist ON agent_recommendations (severity_rank DESC, seq);
CREATE INDEX agent_recommendations_severity ON agent_recommendations (severity, seq);
CREATE INDEX agent_recommendations_investigation ON agent_recommendations (investigation_id, seq);

CREATE TABLE agent_rule_drafts (
    investigation_id TEXT PRIMARY KEY REFERENCES agent_investigations (investigation_id),
    body TEXT NOT NULL                              -- condition, text, caught cases: JSON
);
