"""Holding the hedge neutral once its legs are open: rebalancing BP to -(L1 + L2), and monitoring the legs for net
exposure, liquidations, positions gone to zero outside hedgectl, and the liquidation distance."""

from __future__ import annotations

from decimal import Decimal

from hedgectl.connectors.base import Position
from hedgectl.decimals import ZERO, plain, quantize_down
from hedgectl.errors import InvalidOrder, VenueError
from hedgectl.model.orders import Side
from hedgectl.strategies.hedge.base import FINAL_REFUSALS, EmergencyExit
from hedgectl.strategies.hedge.legs import LegOrders
from hedgectl.strategies.hedge.phases import Phase
from hedgectl.strategies.hedge.plan import HedgePlan


class ExposureWatch(LegOrders):
    """The rebalance and the monitor."""

    async def _rebalance(self, plan: HedgePlan, *, from_fills: bool = False) -> None:
        """Bring BP to -(L1 + L2). With ``from_fills`` the first order is sized from the legs' confirmed fills, so it
        goes out at once (the exposure L2's entry opened is naked until it does); every decision after that, and the
        final word, comes from reading the venues."""
        bp_rules = plan.rules["BP"]
        use_fills = from_fills
        attempts = self.legs["BP"].retries + 1 + (1 if from_fills else 0)
        for attempt in range(attempts):
            sizes = dict(self._expected) if use_fills else await self._read_all_known()
            net = sum(sizes.values(), ZERO)
            target = -(sizes["L1"] + sizes["L2"])
            delta = target - sizes["BP"]
            self._emit(
                "rebalance",
                f"rebalance: BP {plain(sizes['BP'])} -> {plain(target)} (net {plain(net)},"
                f" {'by the fills' if use_fills else 'read at the venues'})",
                positions={k: plain(v) for k, v in sizes.items()},
                target=plain(target),
                source="fills" if use_fills else "venues",
            )
            if abs(net) <= plan.tolerance:
                if use_fills:
                    use_fills = False  # nothing to send by the fills: confirm it at the venues
                    continue
                if target == 0:
                    self._expected_nonzero.discard("BP")
                else:
                    self._expected_nonzero.add("BP")
                return
            step_delta = quantize_down(abs(delta), bp_rules.step_size)
            current = sizes["BP"]
            side = Side.BUY if delta > 0 else Side.SELL
            reduces = current != 0 and (delta > 0) != (current > 0) and abs(delta) <= abs(current)
            if step_delta == 0 or (step_delta < bp_rules.min_size and not reduces):
                break
            try:
                intent = await self.legs["BP"].connector.build_intent(
                    self.legs["BP"].symbol, side, step_delta, reduce_only=reduces
                )
            except InvalidOrder as exc:
                raise EmergencyExit(f"BP rebalance order invalid: {exc}") from None
            snapshot = await self._send("BP", "rebalance", intent)
            self._require_final("BP", "rebalance", snapshot)
            self._add_fill("BP", snapshot.filled_size * side.sign)
            if isinstance(snapshot.error, FINAL_REFUSALS):
                raise EmergencyExit(f"BP rebalance refused: {snapshot.error}")
            if not use_fills and attempt < attempts - 1:
                await self.clock.sleep(self.params.retry_delay_secs)
            use_fills = False
        sizes = await self._read_all_known()
        net = sum(sizes.values(), ZERO)
        if abs(net) > plan.tolerance:
            raise EmergencyExit(
                f"BP rebalance could not bring net exposure {plain(net)} within {plain(plan.tolerance)}"
            )

    async def _monitor(self, plan: HedgePlan) -> None:
        deadline = self.clock.now() + self.params.monitor_timeout_secs
        self.status.countdown_until = deadline
        self.status.countdown_label = "monitor ends in"
        zero_without_evidence: dict[str, int] = {}
        try:
            while True:
                if self._stop.is_set():
                    raise EmergencyExit("interrupted by the operator")
                # a liquidation a stream pushes starts the exit at once, also in the middle of a REST step: waiting
                # for its confirmation would leave the other legs naked for round trips, and the exit flattens from
                # the venues' own answers anyway
                liquidated = self._pushed_liquidation()
                if liquidated is not None:
                    raise EmergencyExit(self._pushed_liquidation_reason(liquidated))
                if self.clock.now() >= deadline:
                    return
                results = await self._unless_liquidation_pushed(self._read_all())
                known = {r: v.signed_size for r, v in results.items() if not isinstance(v, VenueError)}
                for role, value in results.items():
                    if isinstance(value, VenueError):
                        self._emit("unknown", f"{role} position unknown ({value}); retrying", role=role)
                for role in list(known):
                    if role in self._expected_nonzero and known[role] == 0:
                        if await self._unless_liquidation_pushed(self._liquidated(role)):
                            raise EmergencyExit(f"{role} ({self.legs[role].connector.name}) was liquidated")
                        zero_without_evidence[role] = zero_without_evidence.get(role, 0) + 1
                        if zero_without_evidence[role] >= 2:
                            raise EmergencyExit(f"{role} position went to zero outside hedgectl")
                    else:
                        zero_without_evidence.pop(role, None)
                await self._warn_liquidation(results)
                if len(known) == len(self.legs):
                    net = sum(known.values(), ZERO)
                    self._emit(
                        "positions",
                        "positions: " + ", ".join(f"{r} {plain(v)}" for r, v in known.items()) + f" net {plain(net)}",
                        positions={r: plain(v) for r, v in known.items()},
                        net=plain(net),
                    )
                    if abs(net) > plan.tolerance:
                        self._enter(Phase.REBALANCE, reason=f"net exposure {plain(net)}")
                        await self._rebalance(plan)
                        self._enter(Phase.MONITOR)
                await self._stopped_or_pushed_within(
                    max(0.0, min(self.params.poll_interval_secs, deadline - self.clock.now())))
        finally:
            self.status.countdown_until = None

    async def _liquidated(self, role: str) -> bool:
        leg = self.legs[role]
        try:
            fills = await leg.connector.fills(leg.symbol, since=self._started_at)
        except VenueError as exc:
            self._emit("unknown", f"{role} trades unreadable ({exc}); not calling it a liquidation", role=role)
            return False
        return any(fill.kind == "liquidation" for fill in fills)

    async def _warn_liquidation(self, results: dict[str, Position | VenueError]) -> None:
        threshold = self.params.liquidation_warning_pct
        for role, value in results.items():
            if isinstance(value, VenueError) or role in self._warned_liquidation:
                continue
            distance = value.liquidation_distance()
            if distance is not None and distance < threshold:
                self._warned_liquidation.add(role)
                self._emit(
                    "liquidation_warning",
                    f"{role} is {plain((distance * 100).quantize(Decimal('0.01')))}% from liquidation",
                    role=role,
                    distance=plain(distance),
                )
                await self._notify("liquidation_warning", self.status.legs[role], distance)
