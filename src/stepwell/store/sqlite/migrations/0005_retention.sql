-- Retention: a prune batch runs on the writer thread, so it must find its rows by an index
-- range, never by scanning a whole table. Ended runs by end time (live runs have none and stay
-- out of the index), events by arrival, idempotency keys by expiry.
CREATE INDEX runs_ended ON runs (ended_at, run_id) WHERE ended_at IS NOT NULL;
CREATE INDEX events_received ON events (received_at, internal_id);
CREATE INDEX idempotency_expires ON idempotency (expires_at);
