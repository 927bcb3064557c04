"""The PostgreSQL adapter: many processes, on many hosts, sharing one database."""
