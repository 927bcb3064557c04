"""Wire models shared by our SDK, the engine and the HTTP server (docs/protocol.md).

Nothing here imports any other part of Stepwell, so both execution paths (in-process and
HTTP) are built from the same definitions and cannot drift apart.
"""
