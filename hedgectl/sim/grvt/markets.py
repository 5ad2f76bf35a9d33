"""Paper GRVT's markets: the perpetuals it lists, with the rules, asset ids and limits the venue publishes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgectl.sim.grvt.wire import num_text
from hedgectl.sim.market import MarketRules

GRVT_RULES: dict[str, MarketRules] = {
    rules.symbol: rules
    for rules in (
        MarketRules("ETH_USDT_Perp", "ETH", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("100000")),
        MarketRules("BTC_USDT_Perp", "BTC", Decimal("0.001"), Decimal("0.1"), Decimal("0.001"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("1000000")),
        MarketRules("SOL_USDT_Perp", "SOL", Decimal("0.1"), Decimal("0.01"), Decimal("0.1"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("10000")),
    )
}
#: Asset ids signed in each leg. ETH and BTC are the live venue's; SOL's is paper's own.
INSTRUMENT_HASHES = {"ETH_USDT_Perp": "0x030401", "BTC_USDT_Perp": "0x030501", "SOL_USDT_Perp": "0x030c01"}
BASE_DECIMALS = 9
QUOTE_DECIMALS = 6
MAX_POSITION_SIZES = {"ETH_USDT_Perp": Decimal("1000"), "BTC_USDT_Perp": Decimal("100"),
                      "SOL_USDT_Perp": Decimal("20000")}
CREATED_NS = "1739777750420765447"


def instrument_document(rules: MarketRules) -> dict[str, Any]:
    return {
        "instrument": rules.symbol,
        "instrument_hash": INSTRUMENT_HASHES[rules.symbol],
        "base": rules.base,
        "quote": "USDT",
        "kind": "PERPETUAL",
        "venues": ["ORDERBOOK", "RFQ"],
        "settlement_period": "PERPETUAL",
        "base_decimals": BASE_DECIMALS,
        "quote_decimals": QUOTE_DECIMALS,
        "tick_size": num_text(rules.tick_size),
        "min_size": num_text(rules.min_quantity),
        "create_time": CREATED_NS,
        "max_position_size": num_text(MAX_POSITION_SIZES[rules.symbol]),
        "funding_interval_hours": 8,
        "adjusted_funding_rate_cap": "0.3",
        "adjusted_funding_rate_floor": "-0.3",
    }
