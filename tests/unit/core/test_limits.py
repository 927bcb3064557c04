"""Limits from protocol.md §2.2, §2.4, §5.3, §5.8, §5.12."""

from __future__ import annotations

from stepwell.core import limits


def test_limits_match_the_protocol() -> None:
    assert limits.MIB == 1_048_576
    assert limits.MAX_STEP_OUTPUT_BYTES == 4 * 1_048_576  # §5.3: step output ≤ 4 MiB
    assert limits.DEFAULT_RETRIES == 4  # §5.8
    assert limits.MAX_RETRIES == 20  # §5.8
    assert limits.MAX_SLEEP_MS == 366 * 86_400_000  # §5.3: max 366 days
    assert limits.IDEMPOTENCY_PERIOD_MS == 86_400_000  # §2.4: 24 h
    assert limits.DEFAULT_INVOKE_TIMEOUT_MS == 365 * 86_400_000  # §5.12: default 1 year
    assert limits.MAX_EVENT_NAME_LENGTH == 512  # §2.2: REST v2 caps names at 512
