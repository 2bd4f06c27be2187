-- Full-text index of the audit log, so a search reads the index rather than every row. It holds no text of its
-- own (external content): the triggers keep it in step with audit_log, whoever writes the rows.
CREATE VIRTUAL TABLE audit_search USING fts5(
    principal, action, target, outcome, request_id, path, detail,
    content='audit_log', content_rowid='entry_id'
);
INSERT INTO audit_search (audit_search) VALUES ('rebuild');

CREATE TRIGGER audit_log_search_insert AFTER INSERT ON audit_log BEGIN
    INSERT INTO audit_search (rowid, principal, action, target, outcome, request_id, path, detail)
    VALUES (new.entry_id, new.principal, new.action, new.target, new.outcome, new.request_id, new.path, new.detail);
END;

CREATE TRIGGER audit_log_search_delete AFTER DELETE ON audit_log BEGIN
    INSERT INTO audit_search (audit_search, rowid, principal, action, target, outcome, request_id, path, detail)
    VALUES ('delete', old.entry_id, old.principal, old.action, old.target, old.outcome, old.request_id, old.path,
            old.detail);
END;

-- Nothing updates the log, but an edit (a repair, or tampering) must not leave the index describing other text.
CREATE TRIGGER audit_log_search_update AFTER UPDATE ON audit_log BEGIN
    INSERT INTO audit_search (audit_search, rowid, principal, action, target, outcome, request_id, path, detail)
    VALUES ('delete', old.entry_id, old.principal, old.action, old.target, old.outcome, old.request_id, old.path,
            old.detail);
    INSERT INTO audit_search (rowid, principal, action, target, outcome, request_id, path, detail)
    VALUES (new.entry_id, new.principal, new.action, new.target, new.outcome, new.request_id, new.path, new.detail);
END;

-- changes_only pages walk this instead of every read between two commands.
CREATE INDEX audit_log_changes ON audit_log (entry_id) WHERE method NOT IN ('GET', 'HEAD', 'OPTIONS');

-- Signed checkpoints: each says "the retained log runs from first_entry_id (whose prev_hash is first_prev_hash)
-- to entry_id, whose hash is entry_hash, entry_count entries", signed with HMAC-SHA256 under a key kept outside
-- the database, and chained to the checkpoint before it by prev_signature.
CREATE TABLE audit_checkpoints (
    checkpoint_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    first_entry_id INTEGER NOT NULL,
    first_prev_hash TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    entry_hash TEXT NOT NULL,
    entry_count INTEGER NOT NULL,
    prev_signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
