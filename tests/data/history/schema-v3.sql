-- The history's schema as version 3 of the harness wrote it (harness/history/database.py
-- at 29476df): results and facts keyed by the run id's text. Tests rewrite a history
-- into it to check that an ingest upgrades it in place.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    combination TEXT NOT NULL,
    embedded INTEGER NOT NULL,
    target TEXT NOT NULL,
    lab TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    kind TEXT NOT NULL,
    voting INTEGER NOT NULL,
    job_url TEXT,
    harness_version TEXT NOT NULL,
    scenarios_revision TEXT,
    preflight TEXT NOT NULL,
    forced INTEGER NOT NULL,
    header TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'scenario'
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL,
    feature TEXT NOT NULL,
    scenario TEXT NOT NULL,
    outcome TEXT NOT NULL,
    skip_category TEXT,
    duration_s REAL NOT NULL,
    message TEXT,
    microversion TEXT,
    api_requests INTEGER,
    finished_at TEXT NOT NULL,
    proof TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS facts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    host TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, host, name)
);
CREATE INDEX IF NOT EXISTS runs_by_combination ON runs (combination, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at, run_id);
INSERT INTO meta (key, value) VALUES ('schema', '3');
