-- The refund ledger (contract 5): requests from the plant, the customer data they carry kept apart in a table
-- of its own that only the operator ledger's unmasked read joins, the governed agents' evidence chain with its
-- signed checkpoints, and the process-once idempotency keys.
CREATE TABLE refund_requests (
    entry_id INTEGER PRIMARY KEY,        -- the keyset of ledger pages
    created_at TEXT NOT NULL,            -- ISO 8601 UTC
    status TEXT NOT NULL,                -- pending, processing, refunded, denied, awaiting_approval, failed_closed
    decision TEXT,                       -- ALLOW, DENY, REQUIRE_APPROVAL; NULL while pending or when failed closed
    rule TEXT,                           -- the policy rule that decided
    deposit_id TEXT NOT NULL,            -- the plant's deposit (transaction) id, an operator reference
    deposit_ref TEXT NOT NULL,           -- its safe reference (dep_<hex>), what the policy and evidence see
    customer_ref TEXT NOT NULL,          -- the customer's safe reference (cust_<hex>)
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    risk_flags TEXT NOT NULL,            -- JSON list of risk flag names
    evidence_id INTEGER                  -- the evidence of its processing
);
CREATE INDEX refund_requests_status ON refund_requests (status, entry_id);
CREATE INDEX refund_requests_customer ON refund_requests (customer_ref, status, created_at);

-- Protected columns: customer name, email, card data and the raw order payload.
CREATE TABLE refund_customer_data (
    entry_id INTEGER PRIMARY KEY REFERENCES refund_requests (entry_id),
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    card_number TEXT NOT NULL,
    card_expiry TEXT NOT NULL,
    order_payload TEXT NOT NULL          -- JSON as the plant sent it
);

CREATE TABLE agent_evidence (
    evidence_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    agent TEXT NOT NULL,                 -- guardian, signal, refund
    action TEXT NOT NULL,                -- comment.create, alert.raise, refund.create
    entry_id INTEGER,                    -- the refund ledger entry, for refund actions
    decision TEXT,                       -- NULL when the decision point failed (failed closed)
    rule TEXT NOT NULL,
    outcome TEXT NOT NULL,               -- executed, denied, awaiting_approval, failed_closed
    idempotency_key TEXT,
    resource_refs TEXT NOT NULL,         -- JSON list of safe references
    latency_us INTEGER NOT NULL,
    redaction_status TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL                   -- SHA-256 over prev_hash and the record's canonical JSON
);
CREATE INDEX agent_evidence_agent ON agent_evidence (agent, evidence_id);

CREATE TABLE agent_evidence_checkpoints (
    checkpoint_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    evidence_id INTEGER NOT NULL,        -- the head it signs
    evidence_hash TEXT NOT NULL,
    evidence_count INTEGER NOT NULL,
    prev_signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

CREATE TABLE refund_idempotency (
    principal TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,           -- SHA-256 of the request body as validated
    state TEXT NOT NULL,                 -- running, done
    response_status INTEGER,
    response_body BLOB,                  -- replayed byte for byte
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX refund_idempotency_expiry ON refund_idempotency (expires_at);
