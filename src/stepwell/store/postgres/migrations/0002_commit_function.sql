-- Applying change sets inside the database: the writer sends every change set waiting at that
-- moment as one JSON array in one statement, so a batch costs one round trip and one commit
-- (measured when this was written: ~23,000 steps/s, against 2,000-5,000 with a round trip per
-- SQL statement).
--
-- stepwell_apply_v1 applies one change set with the same rules, in the same order, as
-- apply_change_set in store/sqlite/apply.py (the contract is Store.commit's, in ports/store.py);
-- a lost race raises SQLSTATE SW001. stepwell_commit_v1 runs each change set in its own
-- exception block (a subtransaction), so a failing one rolls back alone.
-- The names carry a version: a later change of semantics adds _v2 beside them, so processes of
-- the previous release keep working against the same database during a rolling upgrade.

CREATE FUNCTION stepwell_apply_v1(cs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    skipped text[] := '{}';
    rearmed text[] := '{}';
BEGIN
    IF cs ? 'events' THEN
        INSERT INTO events (internal_id, name, user_id, ts, received_at, body)
        SELECT e.internal_id, e.name, e.user_id, e.ts, e.received_at, e.body
        FROM jsonb_to_recordset(cs->'events') AS e(
            internal_id text, name text, user_id text, ts bigint, received_at bigint, body text);
    END IF;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'runs') AS x(
        run_id text, app_id text, function_id text, status text, created_at bigint,
        started_at bigint, ended_at bigint, correlation_id text, event_ids text,
        concurrency_keys text, idempotency_key text, idempotency_expires_at bigint)
    LOOP
        IF r.idempotency_key IS NOT NULL THEN
            -- Held and not expired: the run (and its items, below) is skipped, not an error.
            INSERT INTO idempotency AS i (key, run_id, expires_at)
            VALUES (r.idempotency_key, r.run_id, r.idempotency_expires_at)
            ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id,
                expires_at = excluded.expires_at
            WHERE i.expires_at <= r.created_at;
            IF NOT FOUND THEN
                skipped := skipped || r.run_id;
                CONTINUE;
            END IF;
        END IF;
        INSERT INTO runs (run_id, app_id, function_id, status, created_at, started_at, ended_at,
                          correlation_id, event_ids, concurrency_keys)
        VALUES (r.run_id, r.app_id, r.function_id, r.status, r.created_at, r.started_at,
                r.ended_at, r.correlation_id, r.event_ids, r.concurrency_keys);
        INSERT INTO run_events (event_id, run_id)
        SELECT DISTINCT ids.value, r.run_id FROM jsonb_array_elements_text(r.event_ids::jsonb) AS ids
        ON CONFLICT DO NOTHING;
    END LOOP;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'run_updates') AS x(
        run_id text, status text, expect text[], output text, error text, started_at bigint,
        ended_at bigint)
    LOOP
        UPDATE runs AS t SET status = r.status,
            output = COALESCE(r.output, t.output),
            error = COALESCE(r.error, t.error),
            started_at = COALESCE(t.started_at, r.started_at),
            ended_at = COALESCE(r.ended_at, t.ended_at)
        WHERE t.run_id = r.run_id AND t.status = ANY (r.expect);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'run % is not in %', r.run_id, r.expect USING ERRCODE = 'SW001';
        END IF;
    END LOOP;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'steps') AS x(
        run_id text, step_hash text, value text)
    LOOP
        -- FOR SHARE: a concurrent transaction ending the run waits for us, or we see it ended.
        PERFORM 1 FROM runs WHERE run_id = r.run_id AND status IN ('Queued', 'Running')
            FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'step % of run % not stored: the run has ended', r.step_hash,
                r.run_id USING ERRCODE = 'SW001';
        END IF;
        INSERT INTO steps (run_id, step_hash, value) VALUES (r.run_id, r.step_hash, r.value)
        ON CONFLICT (run_id, step_hash) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'step % of run % is already stored', r.step_hash, r.run_id
                USING ERRCODE = 'SW001';
        END IF;
    END LOOP;

    FOR r IN SELECT ids.value AS pause_id FROM jsonb_array_elements_text(cs->'pauses_consumed') AS ids
    LOOP
        DELETE FROM pauses WHERE pause_id = r.pause_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'pause % was already consumed', r.pause_id USING ERRCODE = 'SW001';
        END IF;
    END LOOP;

    IF cs ? 'pauses' THEN
        INSERT INTO pauses (pause_id, run_id, step_hash, kind, event_name, expires_at, expression,
                            correlation_id, trigger_event)
        SELECT p.pause_id, p.run_id, p.step_hash, p.kind, p.event_name, p.expires_at,
               p.expression, p.correlation_id, p.trigger_event
        FROM jsonb_to_recordset(cs->'pauses') AS p(
            pause_id text, run_id text, step_hash text, kind text, event_name text,
            expires_at bigint, expression text, correlation_id text, trigger_event text)
        ON CONFLICT DO NOTHING;
    END IF;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'states') AS x(
        key text, value text, expect_version integer)
    LOOP
        IF r.expect_version IS NULL THEN
            INSERT INTO flow_state (key, value, version) VALUES (r.key, r.value, 0)
            ON CONFLICT (key) DO NOTHING;
        ELSE
            UPDATE flow_state SET value = r.value, version = version + 1
            WHERE key = r.key AND version = r.expect_version;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'flow state % changed meanwhile', r.key USING ERRCODE = 'SW001';
        END IF;
    END LOOP;

    IF cs ? 'items_removed' THEN
        DELETE FROM queue
        WHERE item_id = ANY (ARRAY(SELECT jsonb_array_elements_text(cs->'items_removed')));
    END IF;

    -- Compare-and-set on an item's generation: state kept in items (debounce, batches).
    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'items_put') AS x(
        item_id text, run_id text, kind text, due_at bigint, attempt integer, step_hash text,
        pause_id text, lease_owner text, lease_until bigint, payload text,
        expect_generation integer, remove boolean)
    LOOP
        IF r.expect_generation IS NULL THEN
            CONTINUE WHEN r.remove;
            INSERT INTO queue (item_id, run_id, kind, due_at, attempt, step_hash, pause_id,
                               lease_owner, lease_until, generation, payload)
            VALUES (r.item_id, r.run_id, r.kind, r.due_at, r.attempt, r.step_hash, r.pause_id,
                    r.lease_owner, r.lease_until, 0, r.payload)
            ON CONFLICT (item_id) DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'item % was created meanwhile', r.item_id USING ERRCODE = 'SW001';
            END IF;
        ELSE
            IF r.remove THEN
                DELETE FROM queue WHERE item_id = r.item_id AND generation = r.expect_generation;
            ELSE
                UPDATE queue SET due_at = r.due_at, payload = r.payload,
                    lease_owner = r.lease_owner, lease_until = r.lease_until,
                    generation = generation + 1
                WHERE item_id = r.item_id AND generation = r.expect_generation;
            END IF;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'item % changed meanwhile', r.item_id USING ERRCODE = 'SW001';
            END IF;
        END IF;
    END LOOP;

    IF cs ? 'ended_runs' THEN
        DELETE FROM queue
        WHERE run_id = ANY (ARRAY(SELECT jsonb_array_elements_text(cs->'ended_runs')));
        DELETE FROM pauses
        WHERE run_id = ANY (ARRAY(SELECT jsonb_array_elements_text(cs->'ended_runs')));
    END IF;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'items_done') AS x(
        item_id text, generation integer)
    LOOP
        DELETE FROM queue WHERE item_id = r.item_id AND generation = r.generation;
        IF NOT FOUND AND EXISTS (SELECT 1 FROM queue WHERE item_id = r.item_id) THEN
            rearmed := rearmed || r.item_id;
        END IF;
    END LOOP;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'items_rescheduled') AS x(
        item_id text, due_at bigint, attempt integer, lease_owner text, lease_until bigint,
        payload text)
    LOOP
        UPDATE queue SET due_at = r.due_at, attempt = r.attempt, lease_owner = r.lease_owner,
            lease_until = r.lease_until, payload = r.payload, generation = generation + 1
        WHERE item_id = r.item_id;
    END LOOP;

    FOR r IN SELECT * FROM jsonb_to_recordset(cs->'items') AS x(
        item_id text, run_id text, kind text, due_at bigint, attempt integer, step_hash text,
        pause_id text, lease_owner text, lease_until bigint, payload text)
    LOOP
        CONTINUE WHEN r.run_id = ANY (skipped);
        -- An item that exists is re-armed: the earlier due time is kept, its generation bumped.
        INSERT INTO queue AS q (item_id, run_id, kind, due_at, attempt, step_hash, pause_id,
                                lease_owner, lease_until, generation, payload)
        VALUES (r.item_id, r.run_id, r.kind, r.due_at, r.attempt, r.step_hash, r.pause_id,
                r.lease_owner, r.lease_until, 0, r.payload)
        ON CONFLICT (item_id) DO UPDATE SET due_at = LEAST(q.due_at, excluded.due_at),
            generation = q.generation + 1;
    END LOOP;

    RETURN jsonb_build_object('skipped', to_jsonb(skipped), 'rearmed', to_jsonb(rearmed));
END
$fn$;

-- One batch: each change set in its own subtransaction; one outcome per change set, in order:
-- {"skipped", "rearmed"}, {"conflict": message} or {"error": message, "sqlstate": code}.
-- Change sets that carry "wake" (the earliest due time of unleased work they add) lead to one
-- NOTIFY stepwell_work, 'due_ms sender', sent when the batch commits.
CREATE FUNCTION stepwell_commit_v1(batch jsonb, sender text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    cs jsonb;
    outcome jsonb;
    outcomes jsonb[] := '{}';
    wake bigint;
BEGIN
    FOR cs IN SELECT value FROM jsonb_array_elements(batch) LOOP
        BEGIN
            outcome := stepwell_apply_v1(cs);
            wake := LEAST(wake, (cs->>'wake')::bigint);
        EXCEPTION
            -- Lost races, including lock cycles with another process: the engine re-plans.
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
