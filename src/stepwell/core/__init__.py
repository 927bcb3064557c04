"""Pure rules with no I/O: run status, memo formats, retry and backoff, expressions, limits."""
