"""The Lighter connector: reads over plain HTTP, transactions signed and sent through lighter-sdk, nonces owned here.

The connector is put together from modules of one job each: ``reads`` (markets, account, orders), ``nonce_ops``,
``sending``, ``orders`` (plan, task, confirmation) and ``lost`` (what became of an order whose answer was lost).
Orders are confirmed from the venue (accountOrders by client order index, then trades), never from "sendTx
answered 200"; fills are never inferred from positions, the position only vouches that a lost order did not run.
The account stream (``stream``), when up, pushes the same order reports, which confirm whichever comes first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import Connector, MarketRules, TopOfBook
from hedgectl.connectors.confirmation import Confirmations
from hedgectl.connectors.lighter.lost import LighterLostAnswers
from hedgectl.connectors.lighter.nonce_ops import LighterNonces
from hedgectl.connectors.lighter.nonces import NonceFile, nonce_slot
from hedgectl.connectors.lighter.orders import CONFIRM_DELAYS, LIMIT_POLL_SECS, LighterOrders
from hedgectl.connectors.lighter.reads import LighterMarket, LighterReads
from hedgectl.connectors.lighter.rest import LighterRest
from hedgectl.connectors.lighter.sending import LighterSending
from hedgectl.connectors.lighter.wire import VENUE
from hedgectl.connectors.marks import PositionMarks
from hedgectl.connectors.stream import StreamingConnector
from hedgectl.decimals import ZERO
from hedgectl.errors import ConfigError, VenueError
from hedgectl.model.client_ids import LIGHTER_RANGE, ClientIdAllocator
from hedgectl.registry import VENUES

if TYPE_CHECKING:
    from hedgectl.config.model import ConnectorConfig
    from hedgectl.connectors.lighter.signer import LighterSigner, SignedTx
    from hedgectl.connectors.stream import AccountStream

logger = logging.getLogger(__name__)


class LighterConnector(LighterOrders, LighterSending, LighterLostAnswers, LighterNonces, LighterReads,
                       StreamingConnector, Connector):
    """One Lighter account and api key (options: account_index, api_key_index, chain_id, nonce_manager)."""

    venue = VENUE
    client_id_range = LIGHTER_RANGE

    def __init__(self, config: ConnectorConfig, *, data_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK):
        options = config.options
        try:
            self.account_index = int(options["account_index"])
            self.api_key_index = int(options["api_key_index"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"connectors.{config.name}: account_index and api_key_index must be integers") from None
        super().__init__(config, data_dir=data_dir, clock=clock)
        self.client_ids = _shared_allocator(config.base_url, self.account_index, self.client_ids)
        chain_id = options.get("chain_id")
        self.chain_id = int(chain_id) if chain_id is not None else None
        self.nonce_mode = options.get("nonce_manager") or "optimistic"
        if self.nonce_mode not in ("optimistic", "api"):
            raise ConfigError(f"connectors.{config.name}.nonce_manager: 'optimistic' or 'api', not {self.nonce_mode!r}")
        self.base_url = config.base_url.rstrip("/")
        self.timeout = float(config.timeout_secs)
        self.default_max_slippage = VENUES[VENUE].default_slippage
        self.book_max_age_secs = 10.0
        self.max_send_attempts = 3
        self.max_nonce_retries = 5
        self.confirm_timeout_secs = max(15.0, 3 * self.timeout)
        #: delays between the reads that confirm an order, then between those of a resting one
        self.confirm_delays = CONFIRM_DELAYS
        self.limit_poll_secs = LIMIT_POLL_SECS
        self.resolve_timeout_secs = max(5.0, 2 * self.timeout)
        #: how long a consumed nonce must show no trace of a lost order before it counts as someone else's; the
        #: venue's order, transaction and trade indexes can lag its sequencer by seconds
        self.consumed_settle_secs = 5.0
        self._rest = LighterRest(self.base_url, timeout=self.timeout, connector=self.name,
                                 on_latency=self._record_latency)
        self._nonce = nonce_slot(self.base_url, self.account_index, self.api_key_index)
        self._nonce_file = NonceFile(data_dir, self.account_key(), self.api_key_index) if data_dir else None
        self._markets: dict[str, LighterMarket] = {}
        self._markets_by_id: dict[int, LighterMarket] = {}
        self._books: dict[str, TopOfBook] = {}
        self._marks = PositionMarks()
        self._signer: LighterSigner | None = None
        self._signer_lock = asyncio.Lock()
        self.confirmations = Confirmations(connector=self.name, venue=VENUE, clock=self.clock,
                                           refusal=self._refusal_of_report, log=logger)
        #: client order index -> (the plan's wire fields, the signed transaction, when it was signed)
        self._presigned: dict[int, tuple[tuple, SignedTx, float]] = {}
        self._stream_options(options, _default_ws_url(self.base_url))

    def __repr__(self) -> str:
        return f"LighterConnector({self.name!r}, account={self.account_index}, api_key={self.api_key_index})"

    @property
    def landing_horizon_secs(self) -> float:
        """A transaction whose answer was lost can be sequenced late, and the venue's order index lags its
        sequencer by up to ``consumed_settle_secs``: twice that before absence counts."""
        return 2 * self.consumed_settle_secs

    def account_key(self) -> str:
        # the host is part of it: the same account index on testnet, mainnet or a paper venue is another account
        return f"{urlsplit(self.config.base_url).netloc}-{self.account_index}"

    def _record_latency(self, milliseconds: float) -> None:
        self.last_latency_ms = milliseconds

    # --- lifecycle -------------------------------------------------------------------------------------------

    @property
    def _tasks(self) -> set[asyncio.Task]:
        return self.confirmations.tasks

    async def close(self) -> None:
        await self.close_stream()
        await self.confirmations.close()
        self._persist_nonce()
        signer, self._signer = self._signer, None
        if signer is not None:
            await signer.close()
        await self._rest.close()

    async def _ensure_signer(self) -> LighterSigner:
        """The SDK's signer for this account, built inside the running loop on first use."""
        if self._signer is not None:
            return self._signer
        async with self._signer_lock:
            if self._signer is None:
                private_key = self.config.secrets.get("private_key")
                if not private_key:
                    raise ConfigError(f"connectors.{self.name}: missing private_key")
                from hedgectl.connectors.lighter.signer import LighterSigner

                self._signer = LighterSigner(
                    self.base_url,
                    self.account_index,
                    self.api_key_index,
                    private_key,
                    chain_id=self.chain_id,
                    connector=self.name,
                )
        return self._signer

    async def prepare(self, symbol: str) -> MarketRules:
        """Rules, signer, auth token, nonce and a fresh book for ``symbol``: the order path then does no extra I/O;
        and a position reading, which a lost order's absence is proven against when the venue's records lag."""
        rules = await self.market_rules(symbol)
        try:
            await self.positions()
        except VenueError as exc:
            logger.info("%s: no position reading before orders (%s); a lost answer whose nonce another user may "
                        "have taken will stay unknown", self.name, exc)
        signer = await self._ensure_signer()
        signer.auth_token()
        async with self._nonce.lock():
            # read through the SDK's own HTTP session, so its connection to the venue is open before the first send
            # the venue is the truth: if another user of the key moved it, we learn it here rather than by a 21104
            # on the order path
            self._nonce.next_nonce = await signer.fetch_next_nonce(timeout=self.timeout)
        await self.top_of_book(symbol)
        self.open_stream()
        return rules

    # --- account stream: an accelerator beside the REST reads, never the only truth -----------------------------

    def _new_stream(self) -> AccountStream:
        from hedgectl.connectors.lighter.stream import LighterAccountStream

        return LighterAccountStream(self, self.ws_url, auth_token=self._stream_auth_token, clock=self.clock)

    async def _stream_auth_token(self) -> str:
        signer = await self._ensure_signer()
        return signer.auth_token()

    def known_markets(self) -> dict[str, LighterMarket]:
        return dict(self._markets)

    def pushed_order(self, order: dict[str, Any]) -> bool:
        """Read an order the stream pushed into the report the REST read makes, and apply it to the order in
        flight it names, as the REST read's would be."""
        try:
            report = self._report(order)
        except (VenueError, ValueError, TypeError, ArithmeticError):
            return False
        if not ZERO <= report.filled_size <= report.size:
            return False
        return self.pushed_report(report, reason=report.status if report.done and report.filled_size < report.size
                                  else None)

    async def check(self) -> None:
        """The account exists, the venue knows our api key, and an authenticated read is accepted."""
        await self.with_read_retries("account", self._account)
        signer = await self._ensure_signer()
        await signer.check_key(timeout=self.timeout)
        await self.with_read_retries("trades", lambda: self._auth_get("trades", {
            "account_index": self.account_index, "sort_by": "timestamp", "limit": 1,
        }))


def _default_ws_url(base_url: str) -> str:
    """The account stream beside the REST API: ``https://host`` serves ``wss://host/stream``."""
    scheme, rest = base_url.split("://", 1) if "://" in base_url else ("https", base_url)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/stream"


_allocators: dict[tuple[str, int, Path | None], ClientIdAllocator] = {}
_allocators_lock = threading.Lock()


def _shared_allocator(base_url: str, account_index: int, own: ClientIdAllocator) -> ClientIdAllocator:
    """One client order index allocator per account in the process, so two connectors of one account never hand
    out the same index (across processes, the allocator's file in the shared data directory does that)."""
    key = (base_url.rstrip("/"), account_index, own.state_path)
    with _allocators_lock:
        return _allocators.setdefault(key, own)
