"""Testing Stepwell functions: the real engine, a throwaway database, time that jumps.

```python
from stepwell.testing import TestEngine

async def test_order() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(process_order, "shop/order.placed", {"order_id": 7},
                              steps={"charge": {"charged": True}})
        result = await t.finish(run)      # every sleep and timeout skipped at once
        assert result.steps["email"].output == "e-1"
```

``TestEngine.sync(app)`` is the same for plain ``def`` tests. The pytest plugin
(``stepwell.testing.plugin``, loaded through the ``pytest11`` entry point) adds the
``stepwell_engine`` fixture and the ``stepwell_app`` marker. This package does not import
pytest, and ``import stepwell`` does not import this package.
"""

from stepwell.testing.clock import VirtualClock
from stepwell.testing.engine import TestEngine
from stepwell.testing.kit import EngineKit, FunctionRef, NotReached, RunRef
from stepwell.testing.results import RunResult, StepResult
from stepwell.testing.stubs import StepStub
from stepwell.testing.sync import SyncTestEngine

__all__ = [
    "EngineKit",
    "FunctionRef",
    "NotReached",
    "RunRef",
    "RunResult",
    "StepResult",
    "StepStub",
    "SyncTestEngine",
    "TestEngine",
    "VirtualClock",
]
