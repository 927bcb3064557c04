-- Events as accepted. body holds {data, user, v}; user_id is the sender's optional id.
CREATE TABLE events (
    internal_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    ts          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX events_name_received ON events (name, received_at);

CREATE TABLE runs (
    run_id         TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL,
    function_id    TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    ended_at       INTEGER,
    output         TEXT,
    error          TEXT,
    correlation_id TEXT,
    event_ids      TEXT NOT NULL
);
CREATE INDEX runs_function_created ON runs (function_id, created_at);

CREATE TABLE run_events (
    event_id TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    PRIMARY KEY (event_id, run_id)
) WITHOUT ROWID;

-- The memo: one row per finished step, in the order results were saved (rowid).
CREATE TABLE steps (
    run_id    TEXT NOT NULL,
    step_hash TEXT NOT NULL,
    value     TEXT NOT NULL,
    UNIQUE (run_id, step_hash)
);

CREATE TABLE queue (
    item_id     TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    step_hash   TEXT,
    pause_id    TEXT,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    generation  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue (due_at);
CREATE INDEX queue_run ON queue (run_id);

CREATE TABLE pauses (
    pause_id       TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL,
    step_hash      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    event_name     TEXT NOT NULL,
    expression     TEXT,
    correlation_id TEXT,
    expires_at     INTEGER NOT NULL,
    trigger_event  TEXT NOT NULL,
    UNIQUE (run_id, step_hash)
);
CREATE INDEX pauses_event_name ON pauses (event_name);
CREATE INDEX pauses_correlation ON pauses (correlation_id);
CREATE INDEX pauses_run ON pauses (run_id);

-- Run idempotency keys (event ids, later idempotency expressions), held for 24 h.
CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
