-- The SQLite schema after all its migrations, in PostgreSQL's dialect. Times are Unix
-- milliseconds (BIGINT). JSON is kept as TEXT, byte for byte as written (jsonb would reorder
-- object keys). Keys sort bytewise (COLLATE "C"), as SQLite does, whatever the database's locale.

-- Events as accepted. body holds {data, user, v}; user_id is the sender's optional id.
CREATE TABLE events (
    internal_id TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    ts          BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX events_name_received ON events (name, received_at);

CREATE TABLE runs (
    run_id           TEXT COLLATE "C" PRIMARY KEY,
    app_id           TEXT NOT NULL,
    function_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    ended_at         BIGINT,
    output           TEXT,
    error            TEXT,
    correlation_id   TEXT,
    event_ids        TEXT NOT NULL,
    -- [key, limit] pairs, evaluated once when the run is created.
    concurrency_keys TEXT
);
CREATE INDEX runs_function_run ON runs (function_id, run_id);

CREATE TABLE run_events (
    event_id TEXT COLLATE "C" NOT NULL,
    run_id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (event_id, run_id)
);

-- The memo: one row per finished step, in the order results were saved (seq).
CREATE TABLE steps (
    run_id    TEXT COLLATE "C" NOT NULL,
    step_hash TEXT COLLATE "C" NOT NULL,
    value     TEXT NOT NULL,
    seq       BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (run_id, step_hash)
);
CREATE INDEX steps_run_seq ON steps (run_id, seq);

CREATE TABLE queue (
    item_id     TEXT COLLATE "C" PRIMARY KEY,
    run_id      TEXT COLLATE "C" NOT NULL,
    kind        TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    step_hash   TEXT,
    pause_id    TEXT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    generation  INTEGER NOT NULL DEFAULT 0,
    -- Work that is not a run's (cron ticks, debounce, batches) carries what it needs, as JSON.
    payload     TEXT
);
CREATE INDEX queue_due ON queue (due_at);
-- next_due_at: the earliest item nobody holds.
CREATE INDEX queue_unleased_due ON queue (due_at) WHERE lease_owner IS NULL;
CREATE INDEX queue_run ON queue (run_id);
CREATE INDEX queue_kind ON queue (kind);

CREATE TABLE pauses (
    pause_id       TEXT COLLATE "C" PRIMARY KEY,
    run_id         TEXT COLLATE "C" NOT NULL,
    step_hash      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    event_name     TEXT NOT NULL,
    expression     TEXT,
    correlation_id TEXT,
    expires_at     BIGINT NOT NULL,
    trigger_event  TEXT NOT NULL,
    seq            BIGINT GENERATED ALWAYS AS IDENTITY,
    UNIQUE (run_id, step_hash)
);
CREATE INDEX pauses_event_name ON pauses (event_name, kind);
CREATE INDEX pauses_correlation ON pauses (correlation_id);

-- Run idempotency keys (event ids, idempotency expressions), held for 24 h.
CREATE TABLE idempotency (
    key        TEXT COLLATE "C" PRIMARY KEY,
    run_id     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Apps synced over HTTP: the last accepted registration payload of each, by app name.
CREATE TABLE apps (
    name      TEXT COLLATE "C" PRIMARY KEY,
    url       TEXT NOT NULL,
    checksum  TEXT NOT NULL,
    payload   TEXT NOT NULL,
    app_uuid  TEXT NOT NULL,
    synced_at BIGINT NOT NULL
);

-- Flow-control state per function and key (throttle GCRA, rate-limit log, singleton owner,
-- paused functions), updated by compare-and-set on version.
CREATE TABLE flow_state (
    key     TEXT COLLATE "C" PRIMARY KEY,
    value   TEXT NOT NULL,
    version INTEGER NOT NULL
);
