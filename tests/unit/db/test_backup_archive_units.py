"""The archive reader's pure parts: COPY statements, identifiers, and row sums over cut text."""

from __future__ import annotations

import pytest

from mediz_infra.db.backup.archive import (
    ArchiveError,
    ArchiveReader,
    parse_copy_statement,
    split_identifiers,
)
from mediz_infra.db.backup.tables import LONG_ROW, RowSum


def test_copy_statements_give_their_unquoted_columns() -> None:
    assert parse_copy_statement("COPY public.t (id, s) FROM stdin;\n") == ("id", "s")
    assert parse_copy_statement(
        'COPY "Odd (Schema)"."a ""b"" (c)" ("Col ""x""", "select", y) FROM stdin;\n'
    ) == ('Col "x"', "select", "y")
    assert parse_copy_statement("COPY public.e  FROM stdin;\n") == ()
    with pytest.raises(ArchiveError, match="unexpected COPY statement"):
        parse_copy_statement("INSERT INTO t VALUES (1);")
    assert split_identifiers('"Odd Schema"."Mixed ""Case"" table"') == [
        "Odd Schema",
        'Mixed "Case" table',
    ]
    with pytest.raises(ArchiveError, match="unterminated"):
        split_identifiers('"open')


def _sum(text: bytes, step: int) -> tuple[int, str]:
    rows = RowSum()
    for at in range(0, len(text), step):
        rows.update(text[at : at + step])
    return rows.finish()


def test_row_sums_ignore_order_and_cuts_but_see_every_row() -> None:
    text = b"1\ta\n2\t\\N\n3\tx\\\\.\n4\t\n"
    whole = _sum(text + b"\\.\n\n\n", len(text) + 10)
    assert whole[0] == 4
    for step in (1, 2, 3, 7, 64):
        assert _sum(text + b"\\.\n\n\n", step) == whole  # the end line is not a row
    assert _sum(b"4\t\n3\tx\\\\.\n1\ta\n2\t\\N\n", 5) == whole  # another order
    assert _sum(text + b"4\t\n", 3)[0] == 5  # a duplicated row counts
    assert _sum(text.replace(b"\ta", b"\tb"), 3) != whole
    assert _sum(text.replace(b"4\t\n", b""), 3)[1] != whole[1]
    assert _sum(b"", 1) == (0, "0")


def test_a_row_longer_than_the_hold_limit_is_hashed_as_it_comes() -> None:
    long = b"x" * (LONG_ROW * 2 + 17)
    text = b"a\n" + long + b"\nb\n"
    assert _sum(text, len(text)) == _sum(text, 4096) == _sum(text, LONG_ROW // 3)


def test_row_sums_refuse_text_that_ends_inside_a_row_or_continues_past_its_end() -> None:
    rows = RowSum()
    rows.update(b"1\n2")
    with pytest.raises(ArchiveError, match="ends inside a row"):
        rows.finish()
    rows = RowSum()
    with pytest.raises(ArchiveError, match="continues after"):
        rows.update(b"1\n\\.\n2\n")


def test_the_reader_refuses_other_formats_at_once() -> None:
    reader = ArchiveReader(lambda table, data: None)
    with pytest.raises(ArchiveError, match="no PGDMP signature"):
        reader.feed(b"PGDMX" + bytes(20))
    # a directory or tar archive's header names another format
    header = b"PGDMP" + bytes([1, 14, 0, 4, 8, 3])
    with pytest.raises(ArchiveError, match="format 3 is not the custom format"):
        ArchiveReader(lambda table, data: None).feed(header + bytes(100))
    # a header cut short is not an error until the stream ends there
    cut = ArchiveReader(lambda table, data: None)
    cut.feed(b"PGDMP" + bytes([1, 14]))
    with pytest.raises(ArchiveError, match="ends early"):
        cut.close()
