"""``python -m examples.flask_app --port 8000``: Flask's own server, threaded."""

from __future__ import annotations

import argparse

from examples.flask_app.app import flask_app

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    flask_app.run(host=args.host, port=args.port, threaded=True)
