"""Whether steps checkpoint (a step's write follows it) when the code does not say.

One setting for both ways of running: an app served over HTTP (``ServeOptions.checkpoint``)
and an embedded engine (``App.embedded(checkpointing=...)``). On unless turned off.
"""

from __future__ import annotations

from collections.abc import Mapping

CHECKPOINT_ENV = "STEPWELL_CHECKPOINT"
"""``0``/``false``/``off``/``no`` turns checkpointing off wherever the code does not say."""


def checkpointing_on(given: bool | None, env: Mapping[str, str]) -> bool:
    """``given`` if the code said, else on unless ``$STEPWELL_CHECKPOINT`` turns it off."""
    if given is not None:
        return given
    return (env.get(CHECKPOINT_ENV) or "").strip().lower() not in ("0", "false", "off", "no")
