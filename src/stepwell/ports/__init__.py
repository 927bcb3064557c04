"""Ports: the interfaces the engine needs from the outside world (storage, drivers, clock)."""
