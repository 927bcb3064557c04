"""SQLite adapter: the default store, one file, WAL, one group-committing writer."""
