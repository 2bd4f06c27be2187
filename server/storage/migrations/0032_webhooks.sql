-- Webhooks: the subscriptions, the durable delivery queue and the log of every attempt. Times are Unix seconds.

-- The secret signs deliveries (HMAC needs it in the clear); it is returned once, at creation or rotation. After a
-- rotation the previous secret signs too until previous_expires_at.
CREATE TABLE webhook_subscriptions (
    webhook_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,                   -- JSON list of event types
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_expires_at REAL,
    status TEXT NOT NULL DEFAULT 'active',  -- active, disabled
    disabled_reason TEXT,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL
);

-- One row per event and subscription: the queue. A pending row is due at next_attempt_at; the worker picks due rows,
-- so a restart resumes where the last process stopped. The body is stored as sent: every attempt signs the same bytes.
CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL REFERENCES webhook_subscriptions (webhook_id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,               -- the webhook-id header: the same on every attempt
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,                   -- pending, succeeded, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    attempts_left INTEGER NOT NULL,
    next_attempt_at REAL,
    created_at REAL NOT NULL,
    last_attempt_at REAL,
    last_status_code INTEGER,
    last_error TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    response_excerpt TEXT NOT NULL,
    outcome TEXT NOT NULL,                  -- succeeded, retrying, failed, disabled
    next_attempt_at REAL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempt);
