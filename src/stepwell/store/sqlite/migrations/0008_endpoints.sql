-- Durable endpoints' functions, by slug: no app sync declares them (they are made from the
-- endpoint's own request), so what calling a run back needs is kept here, for a run that went
-- asynchronous to resume after a restart.
CREATE TABLE endpoints (
    slug      TEXT PRIMARY KEY,
    app_id    TEXT NOT NULL,
    url       TEXT NOT NULL,
    retries   INTEGER NOT NULL,
    method    TEXT NOT NULL,
    path      TEXT NOT NULL,
    saved_at  INTEGER NOT NULL
) WITHOUT ROWID;
