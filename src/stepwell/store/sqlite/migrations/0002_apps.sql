-- Apps synced over HTTP: the last accepted registration payload of each, by app name.
CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    payload    TEXT NOT NULL,
    app_uuid   TEXT NOT NULL,
    synced_at  INTEGER NOT NULL
) WITHOUT ROWID;
