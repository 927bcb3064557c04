"""insert_rows: every row once, in order, whatever the count and width; tails apply per row."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwell.store.sqlite.multirow import MAX_PARAMETERS, insert_rows


@given(count=st.integers(0, 700), width=st.sampled_from([1, 2, 6, 11]))
def test_every_row_lands_once_in_order(count: int, width: int) -> None:
    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE t (n INTEGER PRIMARY KEY, {columns})")
    values = [r * 100 + c for r in range(count) for c in range(width)]
    row = "(" + ", ".join(["?"] * width) + ")"
    insert_rows(conn.cursor(), f"INSERT INTO t ({columns})", row, values)
    stored = conn.execute(f"SELECT {columns} FROM t ORDER BY n").fetchall()
    assert [v for r in stored for v in r] == values


def test_literals_in_the_row_and_an_upsert_tail() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE q (id TEXT PRIMARY KEY, due INTEGER, gen INTEGER)")
    values = ["a", 5, "b", 7, "a", 3]  # "a" twice in one statement: the upsert applies
    insert_rows(
        conn.cursor(),
        "INSERT INTO q (id, due, gen)",
        "(?, ?, 0)",
        values,
        tail=" ON CONFLICT (id) DO UPDATE SET due = MIN(q.due, excluded.due), gen = q.gen + 1",
    )
    assert conn.execute("SELECT * FROM q ORDER BY id").fetchall() == [("a", 3, 1), ("b", 7, 0)]


@pytest.mark.parametrize("width", [1, 10, MAX_PARAMETERS])
def test_a_statement_binds_no_more_than_the_oldest_limit(width: int) -> None:
    statements: list[int] = []

    class Counting(sqlite3.Cursor):
        def execute(self, sql: str, parameters: object = (), /) -> Counting:
            statements.append(sql.count("?"))
            super().execute(sql, parameters)  # type: ignore[arg-type]
            return self

    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE t ({columns})")
    row = "(" + ", ".join(["?"] * width) + ")"
    insert_rows(conn.cursor(Counting), f"INSERT INTO t ({columns})", row, [0] * width * 300)
    assert max(statements) <= MAX_PARAMETERS
    assert sum(statements) == width * 300
