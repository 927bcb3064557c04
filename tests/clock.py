"""The clock our engine tests move by hand: the test kit's public ``VirtualClock``.

The engine's timers follow it within one poll interval (an engine built without the test kit
does not hear the clock move; ``TestEngine`` wakes its poller at once).
"""

from __future__ import annotations

from stepwell.testing import VirtualClock as ManualClock

__all__ = ["ManualClock"]
