"""The preflight: read every venue (rules, positions, balances, books, fees), check the hedge can be traded, and
decide the plan (size, sides, worst prices, the wait) before anything is sent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hedgectl.decimals import plain
from hedgectl.errors import PreflightFailed, VenueError
from hedgectl.model.orders import Side
from hedgectl.registry import LIGHTER_ROLES, ROLES
from hedgectl.strategies.hedge.base import HedgeLeg
from hedgectl.strategies.hedge.plan import HedgePlan, LegPlan, check_leverage, check_min_notional, worst_price
from hedgectl.strategies.hedge.sizing import common_size, common_step, size_from_collateral
from hedgectl.strategies.hedge.state import CycleState


class Preflight(CycleState):
    """The cycle's preflight: its plan, or a refusal before trading."""

    async def _preflight_unless_stopped(self) -> HedgePlan | None:
        """The preflight, given up (None) the moment the operator stops: nothing is traded yet, so nothing has to
        be unwound, and a hung venue must not hold an interrupted process in its retries."""
        preflight = asyncio.ensure_future(self._preflight())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({preflight, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not preflight.done():
                preflight.cancel()
                await asyncio.gather(preflight, return_exceptions=True)
        if preflight.cancelled():
            return None
        return preflight.result()

    async def _preflight(self) -> HedgePlan:
        params = self.params
        self._emit("preflight", "preflight: checking venues, markets, positions and margin")

        async def inspect(role: str, leg: HedgeLeg):
            await leg.connector.check()
            rules = await leg.connector.prepare(leg.symbol)
            position, balance, book, fee = await asyncio.gather(
                leg.connector.position(leg.symbol), leg.connector.balance(), leg.connector.top_of_book(leg.symbol),
                self._fee_rate(leg),
            )
            return role, rules, position, balance, book, fee

        results = await asyncio.gather(*(inspect(role, leg) for role, leg in self.legs.items()))
        rules = {r[0]: r[1] for r in results}
        positions = {r[0]: r[2] for r in results}
        balances = {r[0]: r[3] for r in results}
        books = {r[0]: r[4] for r in results}
        fees = {r[0]: r[5] for r in results}
        checks = [f"{leg.connector.name} answers an authenticated read; {leg.symbol} is listed"
                  for leg in self.legs.values()]
        checks.append(check_leverage(
            params.leverage, {role: (leg.connector.name, rules[role]) for role, leg in self.legs.items()}
        ))

        for role, position in positions.items():
            self.status.legs[role].set_position(position.signed_size, source="venue")
            self._baseline[role] = position.signed_size
            self._expected[role] = position.signed_size
            self._baseline_price[role] = position.entry_price
        existing = [f"{self.legs[r].connector.name} holds {plain(p.signed_size)} {p.symbol}"
                    for r, p in positions.items() if p.signed_size != 0]
        if existing and not params.allow_existing:
            raise PreflightFailed("; ".join(existing) + " (flatten first, or pass --allow-existing)")
        checks.append("existing positions join the cycle: " + "; ".join(existing) if existing
                      else "no leg holds a position")

        price = books["L1"].mid or books["BP"].mid
        if price is None:
            raise PreflightFailed("no price: the L1 and BP books are both empty")
        if params.size is not None:
            raw_size = params.size
        else:
            raw_size = size_from_collateral(balances["L1"].available, params.leverage, params.size_safety_factor, price)
        size = common_size(raw_size, list(rules.values()))
        l2_size = None if params.l2_size is None else common_size(params.l2_size, [rules["L2"]])
        checks.append(
            f"size {plain(size)} is a multiple of every step and at or above every minimum ("
            + ", ".join(f"{self.legs[r].connector.name} step {plain(x.step_size)} min {plain(x.min_size)}"
                        for r, x in rules.items()) + ")"
        )

        bp_side = Side.BUY if params.direction == "long" else Side.SELL
        l2_side = bp_side if params.l2_side == "same" else bp_side.opposite
        sides = {"BP": bp_side, "L1": bp_side.opposite, "L2": l2_side}
        legs: list[LegPlan] = []
        for role in ROLES:
            leg = self.legs[role]
            leg_size = l2_size if role == "L2" and l2_size is not None else size
            fee_rate, fee_source = fees[role]
            legs.append(LegPlan(
                role=role, connector=leg.connector.name, venue=leg.connector.venue, symbol=leg.symbol,
                side=sides[role], size=leg_size, reference_price=books[role].mid or price, slippage=leg.slippage,
                worst_price=worst_price(books[role], sides[role], leg.slippage, rules[role]),
                leverage=params.leverage, max_leverage=rules[role].max_leverage,
                fee_rate=fee_rate, fee_source=fee_source,
            ))
        check_min_notional(legs, rules)

        for leg_plan in legs:
            available = balances[leg_plan.role].available
            if leg_plan.margin > available:
                raise PreflightFailed(
                    f"{leg_plan.connector}: {plain(leg_plan.size)} at {plain(leg_plan.reference_price)} needs "
                    f"{plain(leg_plan.margin.quantize(Decimal('0.01')))} USDC of margin at {plain(params.leverage)}x, "
                    f"{plain(available)} available"
                )
            self.status.legs[leg_plan.role].balance = balances[leg_plan.role].equity
        checks.append("margin suffices on every leg (" + ", ".join(
            f"{p.connector} {plain(p.margin.quantize(Decimal('0.01')))} of {plain(balances[p.role].available)}"
            for p in legs) + ")")

        for role in LIGHTER_ROLES:
            connector = self.legs[role].connector
            update_leverage = getattr(connector, "update_leverage", None)
            if update_leverage is not None and not self.dry_run:
                await update_leverage(self.legs[role].symbol, params.leverage)

        tolerance = params.net_tolerance
        if tolerance is None:
            tolerance = max(r.step_size for r in rules.values())
        plan = HedgePlan(
            direction=params.direction,
            bp_side=bp_side,
            size=size,
            l2_side=l2_side,
            l2_size=l2_size,
            wait_secs=self.rng.uniform(params.wait_min_secs, params.wait_max_secs),
            tolerance=tolerance,
            leverage=params.leverage,
            rules=rules,
            price=price,
            legs=legs,
            checks=checks,
        )
        self._emit(
            "plan",
            f"plan: BP {bp_side.value} {plain(size)}, L1 {bp_side.opposite.value}, then L2 {plan.l2_side.value}"
            f" after {plan.wait_secs:.1f}s (common step {plain(common_step([r.step_size for r in rules.values()]))})",
            **plan.as_dict(),
        )
        return plan

    @staticmethod
    async def _fee_rate(leg: HedgeLeg) -> tuple[Decimal | None, str]:
        """The leg's taker fee rate for the plan's estimate, and where it came from; a failed read costs only that."""
        try:
            rate = await leg.connector.taker_fee_rate(leg.symbol)
        except VenueError as exc:
            return None, f"unavailable: {exc}"
        return rate, "published by the venue" if rate is not None else "not published by the venue"
