"""Tables that fit the terminal: one line per row at any width.

The width is ``shutil.get_terminal_size()``'s (``COLUMNS`` first, then the
terminal; logs and pipes get ``LOG_WIDTH``). Long text is cut with an
ellipsis instead of wrapped (a name folded over five lines makes a
1,300-row table unreadable); when even the shortest allowed widths do not
fit, the least important columns are left out and the table says which
(``--json`` and ``--html`` keep every field).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

LOG_WIDTH = 220      # output to a file or pipe, and COLUMNS unset
ELLIPSIS = "…"
PADDING = (0, 1, 0, 0)   # with SIMPLE_HEAD's one-space divider: two spaces between columns (none at the edges)


def terminal_width() -> int:
    return shutil.get_terminal_size(fallback=(LOG_WIDTH, 24)).columns


def make_console(stderr: bool = False) -> Console:
    return Console(file=sys.stderr if stderr else sys.stdout, width=terminal_width(), highlight=False)


@dataclass(frozen=True)
class Column:
    """A table column. ``minimum`` 0: never shortened nor left out (numbers,
    verdicts). Otherwise shortened down to ``minimum``, lowest ``priority``
    first, and left out (lowest first) if the rest still does not fit, unless
    ``keep``."""

    header: str
    minimum: int = 0
    priority: int = 0
    keep: bool = False
    justify: str = "left"

    @property
    def fixed(self) -> bool:
        return self.minimum == 0


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, ending in an ellipsis."""
    if cell_len(text) <= width:
        return text
    return text[:max(width - 1, 0)] + ELLIPSIS[:width]


def overhead(columns: int) -> int:
    """Cells a SIMPLE_HEAD table without edges adds to its columns' text:
    a divider and PADDING's one cell between each two columns."""
    return 2 * (columns - 1)


def _shown(columns: Sequence[Column], natural: Sequence[int], available: int) -> list[int]:
    """Indices of the columns kept: drop the lowest-priority droppable ones
    while the table cannot fit even with every column at its minimum."""
    kept = list(range(len(columns)))

    def smallest() -> int:
        return sum(natural[i] if columns[i].fixed else min(natural[i], columns[i].minimum) for i in kept) + \
            overhead(len(kept))

    droppable = sorted((i for i, c in enumerate(columns) if not c.fixed and not c.keep),
                       key=lambda i: columns[i].priority)
    for index in droppable:
        if smallest() <= available:
            break
        kept.remove(index)
    return kept


def fit_widths(columns: Sequence[Column], natural: Sequence[int], available: int) -> dict[int, int]:
    """Width of each column kept (by index): the natural widths, with the
    shortenable columns cut (lowest priority first, down to their minimum)
    until the table fits ``available`` cells; the last one kept takes any rest."""
    kept = _shown(columns, natural, available)
    widths = {i: natural[i] for i in kept}
    excess = sum(widths.values()) + overhead(len(kept)) - available
    order = sorted((i for i in kept if not columns[i].fixed), key=lambda i: columns[i].priority)
    for index in order:
        if excess <= 0:
            break
        cut = min(excess, widths[index] - min(widths[index], columns[index].minimum))
        widths[index] -= cut
        excess -= cut
    if excess > 0 and order:
        widths[order[-1]] = max(1, widths[order[-1]] - excess)
    return widths


def fitted_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int,
                 styles: Optional[Sequence[Optional[str]]] = None, title: str = "") -> Table:
    """A table of plain-text ``rows`` in ``width`` cells, one line per row;
    ``styles[r]`` colours row ``r``'s last cell (its verdict)."""
    natural = [max([cell_len(c.header)] + [cell_len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    widths = fit_widths(columns, natural, width)
    left_out = [c.header for i, c in enumerate(columns) if i not in widths]
    caption = f"(left out to fit {width} columns: {', '.join(left_out)}; --json has every field)" if left_out else None
    table = Table(title=title or None, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, padding=PADDING,
                  pad_edge=False,
                  header_style="bold", title_justify="left", caption_justify="left")
    for index, w in widths.items():
        table.add_column(columns[index].header, justify=columns[index].justify,  # type: ignore[arg-type]
                         width=w, no_wrap=True, overflow="ellipsis")
    for r, row in enumerate(rows):
        cells = [Text(shorten(row[i], w)) for i, w in widths.items()]
        if styles and styles[r] and cells:
            cells[-1].stylize(styles[r])  # type: ignore[arg-type]
        table.add_row(*cells)
    return table
