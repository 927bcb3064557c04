-- The run trace: one row per attempt of a step, upserted by (run_id, step_hash, attempt) in
-- the commit that ran it; error is JSON. Pruned with its run.
CREATE TABLE spans (
    run_id     TEXT NOT NULL,
    step_hash  TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    queued_ms  INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    detail     TEXT,
    PRIMARY KEY (run_id, step_hash, attempt)
) WITHOUT ROWID;

-- A settled step's span (the attempt that stored its result) is kept in its memo row, so the
-- hot path writes one row a step, not two; failed attempts and waits still going are in
-- spans. A key in both is the steps row's (it was written last).
ALTER TABLE steps ADD COLUMN span_attempt INTEGER;
ALTER TABLE steps ADD COLUMN span_name TEXT;
ALTER TABLE steps ADD COLUMN span_kind TEXT;
ALTER TABLE steps ADD COLUMN span_status TEXT;
ALTER TABLE steps ADD COLUMN span_started_at INTEGER;
ALTER TABLE steps ADD COLUMN span_ended_at INTEGER;
ALTER TABLE steps ADD COLUMN span_queued_ms INTEGER;
ALTER TABLE steps ADD COLUMN span_error TEXT;
ALTER TABLE steps ADD COLUMN span_detail TEXT;

-- Runs queried by time window and paged by keyset on (time, run_id), with or without a
-- function filter. Ended runs by (ended_at, run_id) use runs_ended (0005).
CREATE INDEX runs_created ON runs (created_at, run_id);
CREATE INDEX runs_started ON runs (started_at, run_id) WHERE started_at IS NOT NULL;
CREATE INDEX runs_function_created_run ON runs (function_id, created_at, run_id);
