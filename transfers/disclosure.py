"""Statistical disclosure control of aggregate stages: primary and complementary suppression.

An aggregate stage publishes one-way tables (customers by segment, by country) that share one
grand total: the margins of a segment x country table whose inner cells are never published.
Hiding the cells under the threshold (primary suppression) is not enough when the others and
the total are shown: total - visible cells = the hidden cell. As τ-ARGUS and sdcMicro do,
further cells are hidden (complementary, or secondary, suppression) until no hidden cell can be
worked out from what is published.

What an outsider knows of a table: the visible cells, the total when it is shown, and that a
listed category holds at least one customer. For a table with the total shown, its k hidden
cells sum to S = total - visible; each of them can be anything from 1 to S - (k - 1). The rule
here: a table hides no cell, or hides at least two and S - (k - 1) ≥ threshold, so every hidden
cell could be 1 and could as well be at the threshold or more (a one-cell or an "all ones"
pattern is never left). The inner cells being unpublished, the tables are tied together only
by their shared total (any margins with the same total have a non-negative inner table), so
each table is protected on its own; when one table cannot be protected at all (every cell
hidden and still too little), the total is hidden, and then every table hides at least one
cell so that no table gives the total away by adding up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Protected:
    """The outcome for a set of one-way tables sharing one total: which cells of each table
    are hidden (primary and complementary alike) and whether the total may be shown."""

    hidden: dict[str, frozenset[str]]
    total_shown: bool

    @property
    def hidden_cells(self) -> int:
        return sum(len(cells) for cells in self.hidden.values())


def _safe(counts: Mapping[str, int], hidden: set[str], threshold: int) -> bool:
    if not hidden:
        return True
    hidden_sum = sum(counts[key] for key in hidden)
    return len(hidden) >= 2 and hidden_sum - (len(hidden) - 1) >= threshold


def _order(counts: Mapping[str, int]) -> list[str]:
    # Smallest first: complementary cells cost the least information; ties by name so the
    # same data always gives the same pattern.
    return sorted(counts, key=lambda key: (counts[key], key))


def protect_table(counts: Mapping[str, int], threshold: int) -> tuple[set[str], bool]:
    """Hidden cells of one one-way table with its total shown, and whether that sufficed.

    Primary: every cell under ``threshold``. Complementary: the smallest visible cells, one at
    a time, until the pattern is safe (one is always enough when a visible cell is left: it
    brings at least ``threshold`` into the hidden sum). ``False`` when every cell is hidden and
    the pattern is still unsafe: then only hiding the total protects the table.
    """
    hidden = {key for key, n in counts.items() if n < threshold}
    for key in _order(counts):
        if _safe(counts, hidden, threshold):
            return hidden, True
        hidden.add(key)  # the smallest cell still shown (a hidden one is a no-op)
    return hidden, _safe(counts, hidden, threshold)


def protect(tables: Mapping[str, Mapping[str, int]], total: int, threshold: int) -> Protected:
    """Protect one-way tables that share ``total`` (each table's cells sum to it)."""
    hidden: dict[str, set[str]] = {}
    total_shown = total >= threshold
    for name, counts in tables.items():
        hidden[name], enough = protect_table(counts, threshold)
        total_shown = total_shown and enough
    if not total_shown:
        # The total is hidden: a table with every cell shown would add up to it.
        for name, counts in tables.items():
            if counts and not hidden[name]:
                hidden[name].add(_order(counts)[0])
    return Protected({name: frozenset(keys) for name, keys in hidden.items()}, total_shown)
