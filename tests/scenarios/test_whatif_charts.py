"""What-if charts that answer at a glance (issue 20): only item-locations whose ATP changed are drawn, the legends
cover no bar, the axes carry units and thousands separators (never "1e6"), and a sentence under each chart says what
changed and why. Checked on the chart's data, labels and layout boxes, not on pixels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from scenarios.whatif import parse_scenarios


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The generated tiny network's open backlog with its purchases two weeks late (and one cut by half)."""
    from scenarios.backlog import RescheduleConfig
    from scenarios.service import backlog_from_orders
    from scenarios.whatif import run_whatif
    from supplydata import load_snapshot
    from supplydata.generate import generate

    import polars as pl

    path = tmp_path_factory.mktemp("net")
    generate(path, seed=11, size="tiny")
    snap = load_snapshot(path)
    state, bl, sch = backlog_from_orders(snap, pl.read_parquet(path / "orders.parquet"))
    sc = parse_scenarios({"scenarios": [
        {"name": "purchases two weeks late", "changes": [{"type": "delay_receipts", "days": 14, "kind": ["purchase"]}]},
        {"name": "half the purchases", "changes": [{"type": "cut_receipts", "keep": 0.5, "kind": ["purchase"]}]}]})
    return run_whatif(snap, state, bl, sc, schedule=sch, config=RescheduleConfig(), curves=3)


def _curve(before, after, **kw):
    return {"item": "A", "location": "DC1", "lost_on_time_qty": 0.0, "before": np.array(before, float),
            "after": np.array(after, float), **kw}


LATE = parse_scenarios({"name": "late", "changes": [{"type": "delay_receipts", "days": 7, "kind": ["purchase"]}]})[0]


def test_the_sentence_says_by_how_much_from_when_and_why():
    """Day 0 = 2026-01-05. The baseline's ATP is 5 from day 2; the scenario's is 0 until day 3, then 8: lower from
    2026-01-07 by 5, higher from 2026-01-08 by 3. The backlog confirms 7 units here instead of 10 (3 no longer
    confirmed), which is why the late units stay free for new requests."""
    from scenarios.whatif import atp_explanation

    as_of = dt.date(2026, 1, 5)
    text = atp_explanation(LATE, _curve([0, 0, 5, 5], [0, 0, 0, 8], lost_on_time_qty=3.0, confirmed_before=10.0,
                                        confirmed_after=7.0), as_of)
    assert text.startswith("ATP of A at DC1 with 'late' is lower from 2026-01-07, by up to 5 units (2026-01-07) and "
                           "higher from 2026-01-08, by up to 3 units (2026-01-08): purchase receipts arrive 7 days later.")
    assert "loses 3 units on time" in text and "confirms 7 units here instead of 10" in text
    assert "not consumed" in text and "free for new requests" in text
    # the same curves: said so, nothing invented
    same = atp_explanation(LATE, _curve([1, 2], [1, 2]), as_of)
    assert "the same as the baseline's" in same and "higher" not in same and "lower" not in same
    # unbounded on both sides is no difference; a hundredth of a unit is rounding, not a change
    assert "the same" in atp_explanation(LATE, _curve([np.inf, 1.0], [np.inf, 1.004]), as_of)
    # only later lines (same quantity confirmed): higher because they take their units later
    later = atp_explanation(LATE, _curve([0, 2], [1, 2], lost_on_time_qty=4.0, confirmed_before=6.0, confirmed_after=6.0),
                            as_of)
    assert "higher from 2026-01-05, by up to 1 units" in later and "promised later" in later


def test_only_item_locations_whose_atp_changed_are_drawn(report):
    from scenarios.report import drawn_curves

    for s in report.scenarios:
        drawn = drawn_curves(s)
        assert drawn, s.scenario.name
        assert len(drawn) <= 3
        for c in drawn:
            d = np.nan_to_num(c["after"] - c["before"], nan=0.0)
            assert np.abs(d).max() > 0.005, (c["item"], c["location"])
        for c in s.curves:  # an unchanged one is kept only for the data (with its flag), never drawn
            assert c["atp_changed"] == bool(np.abs(np.nan_to_num(c["after"] - c["before"], nan=0.0)).max() > 0.005)
        most = s.to_dict()["most_affected"]
        assert [m["explanation"] for m in most if m["atp_changed"]] and all(m["explanation"].startswith("ATP of ") for m in most)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_kpi_chart_legend_covers_no_bar_and_axes_have_units_and_separators(report):
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from scenarios.report import _atp_axes, _kpi_axes, kpi_caption

    fig = Figure(figsize=(12, 4))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    _kpi_axes(report, a, b)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    leg = a.get_legend().get_window_extent(r)
    bars = [p.get_window_extent(r) for ax in (a, b) for p in ax.patches]
    assert bars and not any(_overlaps(leg, p) for p in bars)
    assert b.get_ylabel() == "revenue at risk (EUR)" and a.get_ylabel().startswith("%")
    assert b.yaxis.get_offset_text().get_text() == ""  # no "1e6"
    assert b.yaxis.get_major_formatter()(1_000_000, 0) == "1,000,000"
    ticks = [t.get_text() for t in b.get_yticklabels() if t.get_text()]
    assert ticks and all("e" not in t for t in ticks)
    cap = kpi_caption(report)
    s = report.scenarios[0]
    assert f"'{s.scenario.name}': {s.kpis['on_time_rate'] * 100:.1f}% of lines on time" in cap
    assert f"{s.worse_lines:,} lines worse" in cap
    assert any(t.get_text().replace("\n", " ").startswith("Against the baseline") for t in a.texts)

    # the ATP row: one legend above the panels (over no curve), units on the axis, the sentence under each chart
    fig = Figure(figsize=(13, 3.2))
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(1, 3))
    _atp_axes(s, axes, report.as_of)
    fig.canvas.draw()
    leg = axes[0].get_legend().get_window_extent(r := fig.canvas.get_renderer())
    assert leg.y0 >= axes[0].get_window_extent(r).y1  # above the plotting area
    assert [ax.get_legend() for ax in axes[1:]] == [None, None]
    for ax in axes[: len([c for c in s.curves if c["atp_changed"]])]:
        assert ax.get_ylabel() == "ATP (units)"
        assert any(t.get_text().startswith("ATP of ") for t in ax.texts)
