"""The Stepwell server: Inngest's HTTP surface (protocol.md) over the engine."""
