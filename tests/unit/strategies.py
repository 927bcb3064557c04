"""Hypothesis strategies shared by the unit tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Small JSON values: what steps return and events carry.
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
