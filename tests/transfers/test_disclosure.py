"""Complementary suppression of aggregate stages: no hidden cell can be worked out from the
figures a buyer sees (the row, column and grand totals included).

What is published: one-way tables (customers by segment, by country) that share a grand total,
i.e. the margins of a segment x country table whose inner cells are never shown. Each table
lists only categories that hold someone, shows some cells and hides the others; the total is
shown or hidden.

The criterion (the usual audit of disclosure-control tools, τ-ARGUS's "feasibility interval"
in integers): an attacker who knows everything published (the visible cells, the total when
shown, and that a listed category holds at least one customer) must not be able to pin down a
hidden cell. For every hidden cell the test BUILDS two complete segment x country tables that
publish exactly the same figures, one with the least value the figures allow in the cell and
one with the greatest (searched up to the threshold + 200), and asserts that they differ and
that the greatest reaches the threshold. So the cell's feasible range has width > 0 (it is not
recoverable exactly) and reaches the threshold (the figures do not even prove that the cell is
small). The attacker
model is the tools' one: the published values and their bounds, not an attacker re-running
the suppression algorithm on guesses.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import product

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from transfers.disclosure import protect, protect_table
from transfers.engine import SMALL_CELL_THRESHOLD

T = SMALL_CELL_THRESHOLD


def publish(inner: dict[tuple[str, str], int], threshold: int = T) -> dict:
    """What the buyer sees of a segment x country table: both margins and the total,
    protected."""
    segments: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for (segment, country), n in inner.items():
        if n:
            segments[segment] += n
            countries[country] += n
    total = sum(segments.values())
    tables = {"by_segment": dict(segments), "by_country": dict(countries)}
    protected = protect(tables, total, threshold)
    return {
        "total": total if protected.total_shown else None,
        "tables": {
            name: {key: (None if key in protected.hidden[name] else n) for key, n in t.items()}
            for name, t in tables.items()
        },
    }


def _northwest_corner(rows: dict[str, int], cols: dict[str, int]) -> dict[tuple[str, str], int]:
    """A non-negative inner table with these margins (equal totals): the transportation
    problem's northwest-corner rule."""
    inner: dict[tuple[str, str], int] = {}
    row_left, col_left = dict(rows), dict(cols)
    r_keys, c_keys = list(rows), list(cols)
    i = j = 0
    while i < len(r_keys) and j < len(c_keys):
        r, c = r_keys[i], c_keys[j]
        n = min(row_left[r], col_left[c])
        inner[(r, c)] = inner.get((r, c), 0) + n
        row_left[r] -= n
        col_left[c] -= n
        if row_left[r] == 0:
            i += 1
        else:
            j += 1
    assert all(v == 0 for v in row_left.values()) and all(v == 0 for v in col_left.values())
    return inner


def _alternative(published: dict, table: str, key: str, value: int) -> dict | None:
    """A whole segment x country table publishing the same figures, with ``table``'s cell
    ``key`` equal to ``value``; None if no such table exists."""
    tables = published["tables"]
    # Each table's hidden cells: one of them (or ``key``) takes what the total leaves.
    options = []
    for name, cells in tables.items():
        visible = sum(n for n in cells.values() if n is not None)
        hidden = [k for k, n in cells.items() if n is None]
        fixed = [value] if name == table else []
        free = [k for k in hidden if not (name == table and k == key)]
        least = visible + sum(fixed) + len(free)
        options.append((name, least, bool(free), free))
    if published["total"] is not None:
        total = published["total"]
    else:
        total = max(least for _n, least, _f, _k in options)
    margins = {}
    for name, least, has_free, free in options:
        if total < least or (not has_free and total != least):
            return None
        cells = {k: n for k, n in tables[name].items() if n is not None}
        for k in free:
            cells[k] = 1
        if name == table:
            cells[key] = value
        if free:
            cells[free[0]] += total - least
        margins[name] = cells
    inner = _northwest_corner(margins["by_segment"], margins["by_country"])
    return inner


def _hidden_cells_are_protected(published: dict, threshold: int = T) -> None:
    for name, cells in published["tables"].items():
        for key, n in cells.items():
            if n is not None:
                continue
            found = {}
            cap = threshold + 200
            for v in range(1, cap):  # the least value a consistent table allows
                inner = _alternative(published, name, key, v)
                if inner is not None:
                    found["low"] = (v, inner)
                    break
            assert "low" in found, (name, key, published)
            # The greatest (capped): the values that fit form an interval, so bisect it.
            good, bad = found["low"][0], cap + 1
            while bad - good > 1:
                middle = (good + bad) // 2
                if _alternative(published, name, key, middle) is None:
                    bad = middle
                else:
                    good = middle
            found["high"] = (good, _alternative(published, name, key, good))
            for _v, inner in found.values():
                # The alternative shows every published figure unchanged.
                for t_name, t_cells in published["tables"].items():
                    margin = Counter()
                    for (segment, country), count in inner.items():
                        margin[segment if t_name == "by_segment" else country] += count
                    for k, shown in t_cells.items():
                        assert margin[k] >= 1
                        if shown is not None:
                            assert margin[k] == shown
                    assert {k for k, c in margin.items() if c} == set(t_cells)
                if published["total"] is not None:
                    assert sum(inner.values()) == published["total"]
            assert found["low"][0] < found["high"][0] and found["high"][0] >= threshold


counts = st.integers(min_value=0, max_value=14) | st.integers(min_value=0, max_value=400)
tables_2d = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 4).flatmap(
        lambda cols: st.lists(counts, min_size=rows * cols, max_size=rows * cols).map(
            lambda values: {
                (f"s{r}", f"c{c}"): values[r * cols + c]
                for r, c in product(range(rows), range(cols))
            }
        )
    )
)


@settings(max_examples=400, deadline=None)
@given(tables_2d)
def test_no_hidden_cell_of_a_random_segment_by_country_table_can_be_worked_out(inner):
    published = publish(inner)
    _hidden_cells_are_protected(published)
    # Each table with the total shown hides no cell or at least two.
    if published["total"] is not None:
        for cells in published["tables"].values():
            assert sum(n is None for n in cells.values()) != 1
    # Nothing under the threshold is ever shown.
    for cells in published["tables"].values():
        assert all(n is None or n >= T for n in cells.values())


@settings(max_examples=400, deadline=None)
@given(st.lists(counts.filter(bool), min_size=1, max_size=7))
def test_no_hidden_cell_of_a_random_one_way_table_with_its_total_can_be_solved(values):
    cells = {f"k{i}": n for i, n in enumerate(values)}
    hidden, enough = protect_table(cells, T)
    total = sum(values)
    if not enough:
        return  # only hiding the total protects it (the two-way test covers that path)
    assert all(cells[k] >= T for k in set(cells) - hidden)
    if hidden:
        # Solve: the hidden cells sum to total - visible, each at least 1.
        left = total - sum(cells[k] for k in set(cells) - hidden)
        assert len(hidden) >= 2
        low, high = 1, left - (len(hidden) - 1)
        assert low < high and high >= T


def test_the_reported_301_with_a_hidden_cell_of_2_is_no_longer_derivable():
    published = publish({("零售", "CN"): 2, ("企业", "CN"): 150, ("高端", "CN"): 149})
    segments = published["tables"]["by_segment"]
    assert segments["零售"] is None
    assert sum(n is None for n in segments.values()) == 2  # 零售 and the next smallest
    assert published["total"] == 301
    _hidden_cells_are_protected(published)


def test_a_table_of_only_small_cells_hides_the_total_and_a_cell_of_the_other_table():
    # Five segments of one customer each, total 5: with the total shown, every hidden cell
    # would be exactly 1 however many are hidden; only hiding the total protects them.
    published = publish({(f"s{i}", "CN"): 1 for i in range(5)})
    assert published["total"] is None
    assert published["tables"]["by_country"] == {"CN": None}
    _hidden_cells_are_protected(published)


# --- through the buyer's page ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_buyers_statistics_page_leaves_no_segment_to_subtract(
    client, cast, deal, django_capture_on_commit_callbacks
):
    from customers.choices import Tier
    from tests.transfers.conftest import make_customers, open_notice_window
    from transferdesk.celery import app
    from transfers import services
    from transfers.choices import StageKind

    make_customers(cast.seller, 9)  # 3 business (i % 3 == 0), 6 retail, all in CN
    open_notice_window(deal)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Statistics", kind=StageKind.AGGREGATE,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    finally:
        app.conf.task_always_eager = eager
    stage.refresh_from_db()
    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="pytest")
    client.force_login(cast.buyer)
    page = client.get(reverse("portal:stage", args=[stage.pk])).content.decode()
    table = page[page.find('id="chart-by_segment"') :]
    table = table[table.find("<tbody>") : table.find("</tbody>")]
    shown = re.findall(r'td-num">(\d+)</td>', table)
    # Before: business "suppressed", retail 6, total 9: 9 - 6 = 3.
    assert shown == [] and table.count("suppressed") == 2, table
    assert stage.result["suppressed_cells"] == 2
