"""The engine: ingest events, create runs, schedule due work, execute it, apply the results."""
