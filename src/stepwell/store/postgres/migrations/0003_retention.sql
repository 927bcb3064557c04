-- Retention: each prune batch finds its rows by an index range rather than scanning a whole
-- table. Ended runs by end time (live runs have none and stay out of the index), events by
-- arrival, idempotency keys by expiry. Plain CREATE INDEX (migrations run in a transaction):
-- on a large existing database it holds writes to these tables while it builds.
CREATE INDEX runs_ended ON runs (ended_at, run_id) WHERE ended_at IS NOT NULL;
CREATE INDEX events_received ON events (received_at, internal_id);
CREATE INDEX idempotency_expires ON idempotency (expires_at);
