"""engine.keys: the stored id formats are a contract, and parsing gives back what was built."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwell.engine import keys
from stepwell.ports.records import PauseKind

# Ids may hold anything but the separator in the run id (ULIDs); step hashes are hex.
run_ids = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=1, max_size=26)
steps = st.text(alphabet="0123456789abcdef:", min_size=1, max_size=40)


@given(st.sampled_from(list(PauseKind)), run_ids, steps)
def test_a_pause_id_parses_back_to_what_built_it(kind: PauseKind, run_id: str, step: str) -> None:
    built = keys.pause_id(kind, run_id, step)
    assert keys.PauseId.parse(built) == keys.PauseId(kind, run_id, step)


@pytest.mark.parametrize("text", ["", "wait", "wait:", "wait:R1", "nap:R1:h", ":R1:h", "wait::h"])
def test_a_string_that_is_no_pause_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a pause id"):
        keys.PauseId.parse(text)


def test_the_formats_databases_already_hold_do_not_change() -> None:
    # Changing any of these would orphan items, pauses and state already stored.
    assert keys.execute_item_id("R") == "R:exec"
    assert keys.sleep_item_id("R", "h") == "R:sleep:h"
    assert keys.pause_timeout_item_id("R", "h") == "R:timeout:h"
    assert keys.run_timeout_item_id("R", "start") == "R:start-timeout"
    assert keys.run_timeout_item_id("R", "finish") == "R:finish-timeout"
    assert keys.pause_id(PauseKind.EVENT, "R", "h") == "wait:R:h"
    assert keys.pause_id(PauseKind.INVOKE, "R", "h") == "invoke:R:h"
    assert keys.pause_id(PauseKind.SIGNAL, "R", "h") == "signal:R:h"
    assert keys.cancel_pause_id("R", 2) == "cancel:R:2"
    assert keys.cancel_step(2) == "cancel:2"
    assert keys.debounce_item_id("app-f", "k") == "debounce:app-f:13fbd79c3d390e5d"
    assert keys.batch_item_id("app-f", "") == "batch:app-f:da39a3ee5e6b4b0d"
    assert keys.cron_item_id("app-f", "* * * * *") == "cron:app-f:95d1cb2935ad"
    assert keys.gate_owner("cron", "app-f") == "cron:app-f"
    assert keys.rate_limit_key("app-f", "") == "rate:app-f:da39a3ee5e6b4b0d"
    assert keys.singleton_key("app-f", "") == "singleton:app-f:da39a3ee5e6b4b0d"
    assert keys.throttle_key("app-f", 1, "") == "throttle:app-f:1:da39a3ee5e6b4b0d"
    assert keys.concurrency_key(keys.concurrency_scope("app-f", "fn"), "t") == "fn:app-f:t"
    assert keys.concurrency_scope("app-f", "account") == "account"
    assert keys.slots_key("fn:app-f:t") == "slots:fn:app-f:t"
    assert keys.paused_key("app-f") == "paused:app-f"
    assert keys.expression_idempotency_key("app-f", "x") == "app-f-idem-11f6ad8ec52a2984"
    assert (
        keys.event_idempotency_key("app-f", "e1")
        == "app-f-84896d3e067884621c0f54334b8d840949665844"
    )
