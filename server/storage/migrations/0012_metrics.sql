-- Samples of the embedded metrics source: raw samples (kept a day), and one rollup row per metric and minute (kept
-- eight days), so a week's chart reads 10,080 rows rather than 120,960. Times are epoch milliseconds (raw) and
-- epoch seconds at the start of the minute (rollups). `context` is JSON, for samples that carry it (coverage's
-- subscription totals).
CREATE TABLE metric_samples (
    metric TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    value REAL NOT NULL,
    context TEXT,
    PRIMARY KEY (metric, ts_ms)
) WITHOUT ROWID;

CREATE TABLE metric_rollups (
    metric TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    total REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (metric, minute)
) WITHOUT ROWID;
