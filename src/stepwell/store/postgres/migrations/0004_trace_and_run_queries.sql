-- The run trace: one row per attempt of a step, upserted by (run_id, step_hash, attempt) in
-- the commit that ran it; error and detail (what a wait waited for) are JSON as TEXT. Pruned
-- with its run.
CREATE TABLE spans (
    run_id     TEXT COLLATE "C" NOT NULL,
    step_hash  TEXT COLLATE "C" NOT NULL,
    attempt    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    queued_ms  BIGINT NOT NULL DEFAULT 0,
    error      TEXT,
    detail     TEXT,
    PRIMARY KEY (run_id, step_hash, attempt)
);

-- Runs queried by time window and paged by keyset on (time, run_id), with or without a
-- function filter. Ended runs by (ended_at, run_id) use runs_ended (0003).
CREATE INDEX runs_created ON runs (created_at, run_id);
CREATE INDEX runs_started ON runs (started_at, run_id) WHERE started_at IS NOT NULL;
CREATE INDEX runs_function_created_run ON runs (function_id, created_at, run_id);

-- Version 2 of the commit: version 1's change set, then its spans, in the same
-- subtransaction. Version 1 stays as it was for processes of the previous release.
CREATE FUNCTION stepwell_apply_v2(cs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    outcome jsonb;
BEGIN
    outcome := stepwell_apply_v1(cs);
    IF cs ? 'spans' THEN
        INSERT INTO spans AS s (run_id, step_hash, attempt, name, kind, status, started_at,
                                ended_at, queued_ms, error, detail)
        SELECT x.run_id, x.step_hash, x.attempt, x.name, x.kind, x.status, x.started_at,
               x.ended_at, x.queued_ms, x.error, x.detail
        FROM jsonb_to_recordset(cs->'spans') AS x(
            run_id text, step_hash text, attempt integer, name text, kind text, status text,
            started_at bigint, ended_at bigint, queued_ms bigint, error text, detail text)
        ON CONFLICT (run_id, step_hash, attempt) DO UPDATE SET name = excluded.name,
            kind = excluded.kind, status = excluded.status, started_at = excluded.started_at,
            ended_at = excluded.ended_at, queued_ms = excluded.queued_ms, error = excluded.error,
            detail = excluded.detail;
    END IF;
    RETURN outcome;
END
$fn$;

CREATE FUNCTION stepwell_commit_v2(batch jsonb, sender text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    cs jsonb;
    outcome jsonb;
    outcomes jsonb[] := '{}';
    wake bigint;
BEGIN
    FOR cs IN SELECT value FROM jsonb_array_elements(batch) LOOP
        BEGIN
            outcome := stepwell_apply_v2(cs);
            wake := LEAST(wake, (cs->>'wake')::bigint);
        EXCEPTION
            WHEN SQLSTATE 'SW001' OR deadlock_detected OR serialization_failure
                OR lock_not_available THEN
                outcome := jsonb_build_object('conflict', SQLERRM);
            WHEN OTHERS THEN
                outcome := jsonb_build_object('error', SQLERRM, 'sqlstate', SQLSTATE);
        END;
        outcomes := outcomes || outcome;
    END LOOP;
    IF wake IS NOT NULL THEN
        PERFORM pg_notify('stepwell_work', wake::text || ' ' || sender);
    END IF;
    RETURN to_jsonb(outcomes);
END
$fn$;
