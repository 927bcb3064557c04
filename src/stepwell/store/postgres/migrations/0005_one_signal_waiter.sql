-- A signal has one waiter (wait_for_signal's on_conflict), kept by the database itself: two
-- processes that both read "no waiter" cannot both store one.
--
-- A database from before this index may hold several waiters of one signal (that very race).
-- The oldest keeps the signal, as a send_signal would have picked it; each other one is
-- renamed out of the signal's way and its timeout made due at once, so it ends as a timed-out
-- wait (null), the way a replaced wait ends.
UPDATE queue SET due_at = 0
WHERE kind = 'pause_timeout' AND pause_id IN (
    SELECT p.pause_id FROM pauses AS p
    WHERE p.kind = 'signal' AND EXISTS (
        SELECT 1 FROM pauses AS o
        WHERE o.kind = 'signal' AND o.event_name = p.event_name AND o.seq < p.seq));
UPDATE pauses AS p SET event_name = 'superseded ' || p.pause_id || ' ' || p.event_name
WHERE p.kind = 'signal' AND EXISTS (
    SELECT 1 FROM pauses AS o
    WHERE o.kind = 'signal' AND o.event_name = p.event_name AND o.seq < p.seq);

CREATE UNIQUE INDEX pauses_signal_waiter ON pauses (event_name) WHERE kind = 'signal';

-- Version 1 inserts pauses with ON CONFLICT DO NOTHING, which now also skips a second waiter
-- without a word: the run would wait for a timeout whose pause was never stored. Every signal
-- pause of a change set must therefore be stored under its own id once it has been applied;
-- if one is not, another run holds the signal and the change set is a lost race (SW001),
-- rolled back whole, for the engine to plan again with that waiter in view. Change sets
-- without pauses (every step's checkpoint) skip the check.
CREATE FUNCTION stepwell_signal_waiters_v1(cs jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    taken text;
BEGIN
    IF NOT cs ? 'pauses' THEN
        RETURN;
    END IF;
    SELECT p.event_name INTO taken
    FROM jsonb_to_recordset(cs->'pauses') AS p(pause_id text, kind text, event_name text)
    WHERE p.kind = 'signal'
        AND NOT EXISTS (SELECT 1 FROM pauses AS s WHERE s.pause_id = p.pause_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'signal % already has a waiter', quote_literal(taken)
            USING ERRCODE = 'SW001';
    END IF;
END
$fn$;

-- Version 2 with that check. Replaced in place rather than added beside as a version 3: the
-- index above binds processes of the previous release too, and they already re-plan on SW001,
-- so with the check they get the right outcome instead of a wait that was silently dropped.
CREATE OR REPLACE FUNCTION stepwell_apply_v2(cs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    outcome jsonb;
BEGIN
    outcome := stepwell_apply_v1(cs);
    PERFORM stepwell_signal_waiters_v1(cs);
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
