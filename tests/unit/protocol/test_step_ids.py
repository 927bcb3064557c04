"""Step ids on the wire (protocol.md §5.5): SHA-1 of the user id, repeats suffixed ``:N``."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from stepwell.protocol.step_ids import STEP_INDEX_SEPARATOR, StepIdAllocator, hash_step_id

# Ids drawn from a small alphabet so that repeats and "a:1"-style collisions are common.
_COLLIDING_IDS = st.sampled_from(["a", "b", "a:1", "a:2", "b:1", "a:1:1", "step", ""])
_ANY_IDS = st.one_of(_COLLIDING_IDS, st.text(max_size=8))


def _allocate_all(ids: list[str]) -> list[tuple[str, str]]:
    allocator = StepIdAllocator()
    return [allocator.allocate(step_id) for step_id in ids]


def test_hash_matches_protocol_vectors() -> None:
    assert hash_step_id("my-step-id") == "e7d8a2f140845095749d60246ff1110c9d01d76a"
    assert hash_step_id("a") == "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
    assert hash_step_id("a:1") == "de89bfaf06245091a7873290a793604612302247"
    # The TS SDK's RunComplete op uses H("complete") (§5.3).
    assert hash_step_id("complete") == "0737c22d3bfae812339732d14d8c7dbd6dc4e09c"
    # Conformance scenarios (§10).
    assert hash_step_id("first step") == "98bf98df193bcce7c33e6bc50927cf2ac21206cb"
    assert hash_step_id("sleep") == "c3ca5f787365eae0dea86250e27d476406956478"
    assert hash_step_id("second step") == "764e20ec975d4ef820d0f42e6a5833384bd7ee36"
    assert hash_step_id("wait") == "daaad336276d15594d0e765f96c17cd746bf4971"


def test_hash_is_lowercase_hex_sha1_of_utf8() -> None:
    hashed = hash_step_id("étape-✓")
    assert re.fullmatch(r"[0-9a-f]{40}", hashed)
    assert hashed == hashlib.sha1("étape-✓".encode()).hexdigest()
    assert hashed != hashlib.sha1("étape-✓".encode("utf-16")).hexdigest()


def test_separator_is_colon() -> None:
    assert STEP_INDEX_SEPARATOR == ":"


def test_repeats_get_index_suffixes() -> None:
    allocated = _allocate_all(["a", "a", "a"])
    assert allocated == [
        ("a", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
        ("a:1", "de89bfaf06245091a7873290a793604612302247"),
        ("a:2", hash_step_id("a:2")),
    ]


def test_distinct_ids_are_counted_separately() -> None:
    unique = [u for u, _ in _allocate_all(["a", "b", "a", "b", "a"])]
    assert unique == ["a", "b", "a:1", "b:1", "a:2"]


def test_each_allocator_starts_afresh() -> None:
    first = StepIdAllocator()
    assert first.allocate("a")[0] == "a"
    assert first.allocate("a")[0] == "a:1"
    assert StepIdAllocator().allocate("a")[0] == "a"


def test_user_id_that_looks_like_a_repeat_is_not_reused() -> None:
    # The user's own "a:1" comes first, so the repeat of "a" must skip to "a:2".
    assert [u for u, _ in _allocate_all(["a:1", "a", "a"])] == ["a:1", "a", "a:2"]
    # The repeat of "a" took "a:1", so the user's "a:1" becomes "a:1:1".
    assert [u for u, _ in _allocate_all(["a", "a", "a:1"])] == ["a", "a:1", "a:1:1"]


@given(st.lists(_ANY_IDS, max_size=40))
def test_allocated_ids_are_distinct_and_deterministic(ids: list[str]) -> None:
    first = _allocate_all(ids)
    second = _allocate_all(ids)
    assert first == second
    uniques = [u for u, _ in first]
    assert len(set(uniques)) == len(uniques)
    for step_id, (unique, hashed) in zip(ids, first, strict=True):
        assert unique.startswith(step_id)
        assert hashed == hash_step_id(unique)


@given(st.lists(st.sampled_from(["a", "b", "fetch-user", "send"]), max_size=40))
def test_nth_repeat_is_suffixed_with_n(ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for step_id, (unique, _) in zip(ids, _allocate_all(ids), strict=True):
        n = seen.get(step_id, 0)
        seen[step_id] = n + 1
        assert unique == (step_id if n == 0 else f"{step_id}:{n}")
