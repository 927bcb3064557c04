-- Flow-control state per function and key (throttle GCRA, rate-limit log, singleton owner),
-- updated by compare-and-set on version in the same transaction as the run it admits.
CREATE TABLE flow_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;

-- Concurrency keys of a run, evaluated once when it is created.
ALTER TABLE runs ADD COLUMN concurrency_keys TEXT;
