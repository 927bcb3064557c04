"""A Flask app on Stepwell's SDK, with plain ``def`` functions and a synchronous client.

``POST /signups`` sends ``accounts/user.signed_up``; ``welcome-user`` (a ``SyncContext``
function, run in a worker thread) creates the account and sends a welcome email as steps.
"""

from __future__ import annotations

import flask

import stepwell
from stepwell import SyncContext
from stepwell.sdk.serve.flask import serve

workflows = stepwell.App("flask-accounts")
client = stepwell.Client()


def create_account(email: str) -> dict[str, str]:
    return {"email": email, "account_id": "acct-" + email.split("@")[0]}


def send_welcome(email: str) -> str:
    return f"welcome mail queued for {email}"


@workflows.function("welcome-user", trigger=stepwell.on_event("accounts/user.signed_up"))
def welcome_user(ctx: SyncContext) -> dict[str, str]:
    email = str(ctx.event.data["email"])
    account = ctx.step.run("create-account", create_account, email)
    mail = ctx.step.run("send-welcome", send_welcome, email)
    ctx.logger.info("welcomed %s", email)  # silent while replaying
    return {"account_id": account["account_id"], "mail": mail}


flask_app = flask.Flask(__name__)
serve(workflows, flask_app)  # adds /api/inngest


@flask_app.post("/signups")
def sign_up() -> flask.Response:
    body = flask.request.get_json(force=True)
    [event_id] = client.send_sync({"name": "accounts/user.signed_up", "data": body})
    return flask.jsonify({"event_id": event_id})
