-- runs_function_created_run (0006) begins with the same two columns, so it answers every query
-- this one did; each new run paid for both (measured: the runs insert is the largest part of
-- accepting a batch of events).
DROP INDEX IF EXISTS runs_function_created;
