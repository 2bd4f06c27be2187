-- The orchestration family: the CMDB, the asset registry, the ask traces and the control loop's replan events.

-- Configuration items. The plant's components are rows too (plant_component names them), and their status is read
-- from the plant when asked, so the stored one is never used for them.
CREATE TABLE cmdb_cis (
    ci_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ci_type TEXT NOT NULL,              -- server, service, database, queue
    environment TEXT NOT NULL,          -- prod, staging, dev
    status TEXT NOT NULL,               -- active, degraded, down, maintenance
    owner TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    plant_component TEXT UNIQUE         -- the plant's component this CI is, if any
);
CREATE INDEX cmdb_cis_type ON cmdb_cis (ci_type, environment, status);
CREATE INDEX cmdb_cis_env ON cmdb_cis (environment, status);
CREATE INDEX cmdb_cis_status ON cmdb_cis (status);
CREATE INDEX cmdb_cis_owner ON cmdb_cis (owner);

CREATE TABLE cmdb_relations (
    source_id INTEGER NOT NULL REFERENCES cmdb_cis (ci_id),
    relation TEXT NOT NULL,             -- depends_on, runs_on, publishes_to, reads_from
    target_id INTEGER NOT NULL REFERENCES cmdb_cis (ci_id),
    PRIMARY KEY (source_id, relation, target_id)
) WITHOUT ROWID;
CREATE INDEX cmdb_relations_target ON cmdb_relations (target_id, relation);

-- Asset versions. A published or archived version never changes (the trigger refuses it), and exactly one version
-- of an asset is published at a time (the partial unique index).
CREATE TABLE orch_assets (
    id TEXT PRIMARY KEY,
    asset_type TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,               -- draft, published, archived
    author TEXT NOT NULL,
    metadata TEXT NOT NULL,             -- JSON
    content TEXT NOT NULL,              -- JSON
    created_at TEXT NOT NULL,
    published_at TEXT,
    UNIQUE (asset_type, asset_id, version)
);
CREATE UNIQUE INDEX orch_assets_one_published ON orch_assets (asset_type, asset_id) WHERE status = 'published';
CREATE INDEX orch_assets_status ON orch_assets (asset_type, status);
CREATE TRIGGER orch_assets_immutable BEFORE UPDATE OF name, description, metadata, content, version, asset_id,
    asset_type ON orch_assets WHEN OLD.status != 'draft'
BEGIN
    SELECT RAISE(ABORT, 'published asset versions are immutable');
END;

-- One row per ask. The columns the inspector filters on are columns (indexed), the rest is the trace as JSON.
CREATE TABLE orch_traces (
    seq INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    feature TEXT NOT NULL,
    status TEXT NOT NULL,
    route TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    test_mode INTEGER NOT NULL,
    applied_assets TEXT NOT NULL,       -- JSON list of "type:asset_id:version"
    body TEXT NOT NULL                  -- the Trace, JSON
);
CREATE INDEX orch_traces_created ON orch_traces (created_at);
CREATE INDEX orch_traces_feature ON orch_traces (feature, created_at);
CREATE INDEX orch_traces_status ON orch_traces (status, created_at);
CREATE INDEX orch_traces_route ON orch_traces (route, created_at);
-- Substring search over the question (Korean has no spaces to split words at: trigrams) and the feature.
CREATE VIRTUAL TABLE orch_traces_search USING fts5 (
    question, feature, content = 'orch_traces', content_rowid = 'seq', tokenize = 'trigram'
);
CREATE TRIGGER orch_traces_search_insert AFTER INSERT ON orch_traces
BEGIN
    INSERT INTO orch_traces_search (rowid, question, feature) VALUES (NEW.seq, NEW.question, NEW.feature);
END;

-- Every decision of the control loop (replanned or not), for its statistics.
CREATE TABLE orch_replan_events (
    event_id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    at TEXT NOT NULL,
    stage TEXT NOT NULL,
    trigger_type TEXT NOT NULL,
    replanned INTEGER NOT NULL,
    exhausted INTEGER NOT NULL          -- refused because the ask had used every replan
);
CREATE INDEX orch_replan_events_at ON orch_replan_events (replanned, at);
