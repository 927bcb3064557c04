-- A signal has one waiter (wait_for_signal's on_conflict), kept by the database itself: two
-- executions that both read "no waiter" cannot both store one. The commit turns the second
-- insert, which INSERT OR IGNORE would skip, into a conflict, so the engine plans it again.
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
        WHERE o.kind = 'signal' AND o.event_name = p.event_name AND o.rowid < p.rowid));
UPDATE pauses SET event_name = 'superseded ' || pause_id || ' ' || event_name
WHERE kind = 'signal' AND EXISTS (
    SELECT 1 FROM pauses AS o
    WHERE o.kind = 'signal' AND o.event_name = pauses.event_name AND o.rowid < pauses.rowid);

CREATE UNIQUE INDEX pauses_signal_waiter ON pauses (event_name) WHERE kind = 'signal';
