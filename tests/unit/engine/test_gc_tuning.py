"""The collector's threshold while engines run: raised from CPython's default only, and back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stepwell.engine import gc_tuning


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*gc_tuning.CPYTHON_DEFAULT)
    yield
    gc.set_threshold(*before)


def test_raised_while_any_engine_runs_and_put_back_after_the_last() -> None:
    gc_tuning.engine_started()
    gc_tuning.engine_started()
    assert gc.get_threshold() == gc_tuning.ENGINE_THRESHOLDS
    gc_tuning.engine_stopped()
    assert gc.get_threshold() == gc_tuning.ENGINE_THRESHOLDS  # one engine still runs
    gc_tuning.engine_stopped()
    assert gc.get_threshold() == gc_tuning.CPYTHON_DEFAULT


def test_a_threshold_the_program_chose_is_kept() -> None:
    gc.set_threshold(5000, 20, 20)
    gc_tuning.engine_started()
    assert gc.get_threshold() == (5000, 20, 20)
    gc_tuning.engine_stopped()
    assert gc.get_threshold() == (5000, 20, 20)


def test_a_change_made_while_an_engine_runs_is_not_undone() -> None:
    gc_tuning.engine_started()
    gc.set_threshold(1000, 5, 5)
    gc_tuning.engine_stopped()
    assert gc.get_threshold() == (1000, 5, 5)
