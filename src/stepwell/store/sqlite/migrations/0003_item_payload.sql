-- Work that is not a run's (cron ticks) carries what it needs here, as JSON.
ALTER TABLE queue ADD COLUMN payload TEXT;
CREATE INDEX queue_kind ON queue (kind);
