"""``db advise``'s progress display: a bar redrawn in place on a terminal, lines elsewhere."""

from __future__ import annotations

import io

from mediz_infra.db.advisor.command import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    bar = ProgressBar(out)
    bar("planning", 0, 4)
    bar("planning", 2, 4)
    bar("planning", 4, 4)
    frames = out.getvalue().split("\r")[1:]
    assert frames[1] == "planning   [" + "#" * 15 + "." * 15 + "] 2/4"
    assert frames[2].endswith("] 4/4\n")  # the finished bar keeps its line


def test_one_line_per_stage_elsewhere() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    for stage, total in (("catalog", 1), ("planning", 3)):
        for done in range(total + 1):
            bar(stage, done, total)
    assert out.getvalue() == "catalog (1) ...\nplanning (3) ...\n"
