-- The inspector (issue 14): the trace list's indexes and counts, search over the tools a plan called, what clients
-- rendered of an answer, and the stored regression analyses.

-- A list page is newest first (created_at, then seq) under any filter. Each index leads with one filter column,
-- then the order, then the other filter columns: a second or third filter is checked in the index entry, and only
-- the page's rows are read from the table.
DROP INDEX orch_traces_created;
DROP INDEX orch_traces_feature;
DROP INDEX orch_traces_status;
DROP INDEX orch_traces_route;
CREATE INDEX orch_traces_created ON orch_traces (created_at, seq, feature, status, route);
CREATE INDEX orch_traces_feature ON orch_traces (feature, created_at, seq, status, route);
CREATE INDEX orch_traces_status ON orch_traces (status, created_at, seq, feature, route);
CREATE INDEX orch_traces_route ON orch_traces (route, created_at, seq, feature, status);

-- The tools the final plan called (its endpoints), space-separated, searchable with the question and the feature.
ALTER TABLE orch_traces ADD COLUMN tools TEXT NOT NULL DEFAULT '';
UPDATE orch_traces SET tools = COALESCE(
    (SELECT group_concat(json_extract(value, '$.tool'), ' ') FROM json_each(body, '$.plan_output.plan.steps')), ''
);
DROP TRIGGER orch_traces_search_insert;
DROP TABLE orch_traces_search;
-- seq becomes newest-first order itself: created_at in microseconds since 1970 (UTC) times 1000, plus the trace's
-- place among those of the same microsecond, in the order they were saved (TraceRepository.save keeps this). The
-- search index's rowid is seq, so a text search walks its matches newest first and stops at the page's end.
WITH timed AS (
    SELECT seq, unixepoch(substr(created_at, 1, 19) || substr(created_at, -6)) * 1000000
        + CASE WHEN substr(created_at, 20, 1) = '.' THEN CAST(substr(created_at, 21, 6) AS INTEGER) ELSE 0 END AS micro
    FROM orch_traces
)
UPDATE orch_traces SET seq = renumbered.key
FROM (SELECT seq AS old, micro * 1000 + row_number() OVER (PARTITION BY micro ORDER BY seq) - 1 AS key FROM timed)
    AS renumbered
WHERE orch_traces.seq = renumbered.old;
CREATE VIRTUAL TABLE orch_traces_search USING fts5 (
    question, feature, tools, content = 'orch_traces', content_rowid = 'seq', tokenize = 'trigram'
);
INSERT INTO orch_traces_search (orch_traces_search) VALUES ('rebuild');
CREATE TRIGGER orch_traces_search_insert AFTER INSERT ON orch_traces
BEGIN
    INSERT INTO orch_traces_search (rowid, question, feature, tools)
    VALUES (NEW.seq, NEW.question, NEW.feature, NEW.tools);
END;
CREATE TRIGGER orch_traces_search_delete AFTER DELETE ON orch_traces
BEGIN
    INSERT INTO orch_traces_search (orch_traces_search, rowid, question, feature, tools)
    VALUES ('delete', OLD.seq, OLD.question, OLD.feature, OLD.tools);
END;

-- How many traces each UTC day has of each feature, status and route, kept by the triggers: a list's `total`
-- sums these for the whole days its range covers and counts only the partial days at its ends from the indexes.
CREATE TABLE orch_trace_counts (
    day TEXT NOT NULL,                  -- substr(created_at, 1, 10); created_at is stored in UTC
    feature TEXT NOT NULL,
    status TEXT NOT NULL,
    route TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, feature, status, route)
) WITHOUT ROWID;
INSERT INTO orch_trace_counts (day, feature, status, route, n)
    SELECT substr(created_at, 1, 10), feature, status, route, COUNT(*) FROM orch_traces GROUP BY 1, 2, 3, 4;
CREATE TRIGGER orch_traces_count_insert AFTER INSERT ON orch_traces
BEGIN
    INSERT INTO orch_trace_counts (day, feature, status, route, n)
    VALUES (substr(NEW.created_at, 1, 10), NEW.feature, NEW.status, NEW.route, 1)
    ON CONFLICT (day, feature, status, route) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER orch_traces_count_delete AFTER DELETE ON orch_traces
BEGIN
    UPDATE orch_trace_counts SET n = n - 1
    WHERE day = substr(OLD.created_at, 1, 10) AND feature = OLD.feature AND status = OLD.status AND route = OLD.route;
END;

-- What a client rendered of a trace's answer (POST /inspector/traces/{trace_id}/ui-render); a trace may have several.
CREATE TABLE orch_ui_renders (
    seq INTEGER PRIMARY KEY,
    render_id TEXT NOT NULL UNIQUE,
    trace_id TEXT NOT NULL REFERENCES orch_traces (trace_id),
    recorded_at TEXT NOT NULL,
    principal TEXT,
    size_bytes INTEGER NOT NULL,
    blocks TEXT NOT NULL,               -- JSON list of answer blocks
    meta TEXT NOT NULL                  -- JSON object
);
CREATE INDEX orch_ui_renders_trace ON orch_ui_renders (trace_id);

-- Regression analyses, the whole analysis as JSON beside the columns that name it.
CREATE TABLE orch_regressions (
    analysis_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,                 -- stage, full
    baseline_trace_id TEXT NOT NULL,
    comparison_trace_id TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    overall_score INTEGER NOT NULL,
    body TEXT NOT NULL                  -- the RegressionAnalysis, JSON
);
