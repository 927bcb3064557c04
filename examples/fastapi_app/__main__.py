"""``python -m examples.fastapi_app --port 8000``: serve the app with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from examples.fastapi_app.app import api

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(api, host=args.host, port=args.port, log_level="warning")
