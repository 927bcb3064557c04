"""Inngest Connect: workers that open a WebSocket to the server instead of serving HTTP."""
