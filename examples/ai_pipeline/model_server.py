"""A stand-in for a model provider: OpenAI's chat completions API on loopback, no model.

It answers ``POST /v1/chat/completions`` from the prompt's own words (a summary is the first
sentence, a label is looked up by keyword), so the pipeline runs anywhere, offline, the same
way each time. It counts requests: the pipeline makes each model call once, however it replays.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

LABELS = {"invoice": "billing", "refund": "billing", "password": "support"}


def answer(messages: list[dict[str, Any]]) -> str:
    system = " ".join(str(m["content"]) for m in messages if m.get("role") == "system")
    text = " ".join(str(m["content"]) for m in messages if m.get("role") == "user")
    if "label" in system.lower():
        return next((label for word, label in LABELS.items() if word in text.lower()), "other")
    return text.split(". ")[0].strip().rstrip(".") + "."


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StandInModel

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path != "/v1/chat/completions" or not self.headers.get("Authorization"):
            self.send_error(404 if self.path != "/v1/chat/completions" else 401)
            return
        self.server.requests.append(body)
        reply = {
            "id": f"chatcmpl-{len(self.server.requests)}",
            "object": "chat.completion",
            "model": body.get("model", "stand-in"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer(body["messages"])},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class StandInModel(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/"


@contextlib.contextmanager
def running(port: int = 0) -> Iterator[StandInModel]:
    """The stand-in, serving on a thread until the block ends."""
    server = StandInModel(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


if __name__ == "__main__":
    with running(8790) as model:
        print(f"stand-in model on {model.base_url} (Ctrl-C stops it)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
