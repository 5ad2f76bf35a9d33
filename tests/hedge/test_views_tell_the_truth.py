"""What the operator sees is what the venues hold: positions from the first fill, stale readings marked with their age,
and PnL that never counts an open position's cash flows as profit."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from hedgectl.cli.hedge_view import HedgeLiveView, position_cell
from hedgectl.model.pnl import Execution, leg_pnl
from hedgectl.strategies.hedge.phases import Outcome
from hedgectl.strategies.hedge.status import LegStatus


def _frame(status) -> str:
    console = Console(record=True, width=170)
    console.print(HedgeLiveView(status))
    return console.export_text()


def _venue_sizes(venues) -> dict[str, Decimal]:
    sizes = {}
    for kind in ("backpack", "lighter"):
        for name, account in venues.state(kind)["accounts"].items():
            sizes[name] = sum((Decimal(str(p.get("signed_size", 0))) for p in account["positions"]), Decimal(0))
    return sizes


def test_the_view_shows_each_filled_leg_from_its_fills_during_the_hedge_and_the_wait(hedge_run):
    held: dict[str, dict] = {}
    shown: dict[str, dict] = {}
    frames: dict[str, str] = {}

    def look(phase):
        def at(status):
            shown[phase] = {role: (leg.position, leg.position_source) for role, leg in status.legs.items()}
            frames[phase] = _frame(status)
        return at

    run = hedge_run(
        direction="long",
        at_phase={phase: (lambda p: lambda venues: held.__setitem__(p, _venue_sizes(venues)))(phase)
                  for phase in ("l1_hedge", "wait")},
        at_phase_status={phase: look(phase) for phase in ("l1_hedge", "wait")},
    )
    assert run.result.outcome is Outcome.COMPLETED
    # as L1's hedge starts, BP holds its fill at the venue and the view says so (not the 0 read in preflight)
    assert held["l1_hedge"]["backpack"] == Decimal("0.5")
    assert shown["l1_hedge"]["BP"] == (held["l1_hedge"]["backpack"], "fills")
    # through the wait, both legs show what the venues hold, and the net is the truth
    assert shown["wait"]["BP"] == (held["wait"]["backpack"], "fills")
    assert shown["wait"]["L1"] == (held["wait"]["lighter1"], "fills")
    assert held["wait"]["lighter1"] == Decimal("-0.5")
    assert shown["wait"]["L2"] == (Decimal(0), "venue")
    bp_row = next(line for line in frames["wait"].splitlines() if "backpack (backpack)" in line)
    assert "0.5 (fills)" in bp_row
    assert "net exposure: 0" in frames["wait"]


def test_a_reading_that_failed_after_a_good_one_is_shown_stale_with_its_age():
    leg = LegStatus("L1", "lighter1", "lighter", "ETH")
    leg.set_position(Decimal("-0.5"), source="venue", at=1000.0)
    assert position_cell(leg, now=1001.0).plain == "-0.5"
    assert position_cell(leg, now=1042.0).plain == "-0.5 (42s old)"
    leg.position_error = "lighter: 503"
    assert position_cell(leg, now=1012.0).plain == "-0.5 stale 12s (read failed)"
    never_read = LegStatus("L2", "lighter2", "lighter", "ETH", position_error="lighter: 503")
    assert position_cell(never_read, now=1012.0).plain == "unknown (read failed)"


def test_a_failed_cycle_with_a_leg_left_open_reports_no_cash_flow_as_pnl_and_values_the_open_size(hedge_run):
    run = hedge_run(at_phase={"flatten": lambda v: v.arm("lighter", "reject", account="lighter1", count=50)})
    result = run.result
    assert result.outcome is Outcome.FAILED
    still_open = _venue_sizes(run.venues)["lighter1"]
    assert still_open == Decimal("-0.5")
    # L1 only opened: nothing of it was closed, so its realised PnL is its fees alone, not the sale's proceeds
    fills = [f for f in run.venues.state("lighter")["fills"] if f["account"] == "lighter1"]
    assert len(fills) >= 1
    cash_flow = sum((Decimal(f["quantity"]) * Decimal(f["price"]) for f in fills), Decimal(0))
    fees = sum((Decimal(f["fee"]) for f in fills), Decimal(0))
    assert result.pnl["L1"] == -fees
    assert abs(result.pnl["L1"]) < cash_flow / 100  # the old report: +1750, the sale's proceeds
    opened = result.open_legs["L1"]
    assert opened.open_size == still_open
    assert opened.mark_price is not None and opened.mark_value == still_open * opened.mark_price
    summary = result.as_dict()
    assert summary["open_legs"]["L1"]["size"] == "-0.5"
    assert Decimal(summary["open_legs"]["L1"]["mark_value"]) < -1000  # about -0.5 x 3500, reported apart from PnL
    assert set(summary["open_legs"]) == {"L1"}  # the others closed: their PnL is realised


def test_pnl_realises_only_the_closed_part_at_average_cost():
    executions = [
        Execution(Decimal("1"), Decimal("100"), Decimal("0.1")),
        Execution(Decimal("1"), Decimal("110"), Decimal("0.1")),  # average entry 105
        Execution(Decimal("-1.5"), Decimal("120"), Decimal("0.2")),  # closes 1.5 at +15 each
    ]
    result = leg_pnl(executions, mark_price=Decimal("90"))
    assert result.realised == Decimal("1.5") * 15 - Decimal("0.4")
    assert result.open_size == Decimal("0.5") and result.entry_price == Decimal("105")
    assert result.mark_value == Decimal("45") and result.unrealised == Decimal("0.5") * (90 - 105)
    flipped = leg_pnl([Execution(Decimal("1"), Decimal("100")), Execution(Decimal("-3"), Decimal("90"))])
    assert flipped.realised == Decimal(-10) and flipped.open_size == Decimal(-2) and flipped.entry_price == 90
    flat = leg_pnl([Execution(Decimal("-2"), Decimal("50"), Decimal("1")), Execution(Decimal("2"), Decimal("40"))])
    assert flat.realised == Decimal(20 - 1) and flat.open_size == 0 and flat.mark_value is None
