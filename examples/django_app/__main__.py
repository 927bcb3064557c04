"""``python -m examples.django_app --port 8000``: Django's runserver, without the reloader."""

from __future__ import annotations

import argparse
import os

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage", "runserver", "--noreload", f"{args.host}:{args.port}"])
