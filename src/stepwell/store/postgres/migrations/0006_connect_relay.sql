-- Connect across processes (several servers, one database): a worker's socket is held by one
-- process, and a run of its function may execute on any. Each process that serves Connect
-- says here which functions its open sockets serve, and beats; a process executing a run of a
-- function whose worker is elsewhere leaves the executor request in connect_forwards for the
-- process named as target (a NOTIFY on stepwell_connect names the row), which sends it over
-- its socket and writes the worker's reply back into the row (another NOTIFY). Both tables
-- hold only coordination in flight: the run itself stays durable in the queue, whose item
-- the executing process holds under its lease.
CREATE TABLE connect_processes (
    process_id TEXT PRIMARY KEY,
    slugs TEXT[] NOT NULL DEFAULT '{}',
    beat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE connect_forwards (
    request_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    target TEXT NOT NULL,
    request BYTEA NOT NULL,
    taken BOOLEAN NOT NULL DEFAULT false,
    reply BYTEA,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX connect_forwards_target ON connect_forwards (target) WHERE NOT taken;
