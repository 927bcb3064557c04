"""Drivers: how the engine calls a function (in-process here; over HTTP for served apps)."""
