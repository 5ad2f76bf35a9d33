"""The Lighter connector's nonce operations: the venue's next nonce, the one to sign with, and the operator's view.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hedgectl.connectors.lighter.nonces import nonce_slot
from hedgectl.connectors.lighter.wire import int_field


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NonceStatus:
    """What ``nonce show`` prints: the venue's next nonce beside this process's and the last one recorded locally."""

    account_index: int
    api_key_index: int
    server_next: int
    local_next: int | None
    persisted_last_used: int | None


@dataclass(frozen=True)
class NonceRefresh:
    """An API key's nonce before and after it was asked of the venue again."""

    api_key_index: int
    before: int | None
    after: int

    @property
    def changed(self) -> bool:
        return self.before != self.after


class LighterNonces:
    """The nonces of the connector's api key (mixed into the connector): one slot per (venue, account, api key)
    shared by the process and used under its lock; "optimistic" mode counts locally after one fetch, "api" mode
    fetches before every transaction."""

    async def _server_next_nonce(self, api_key_index: int | None = None) -> int:
        key = self.api_key_index if api_key_index is None else api_key_index
        document = await self.with_read_retries("nextNonce", lambda: self._rest.get(
            "nextNonce", {"account_index": self.account_index, "api_key_index": key}
        ))
        return int_field(document, "nonce")

    async def _take_nonce(self) -> int:
        """The nonce for the next transaction (call under the slot's lock); fetched only when not known locally."""
        if self.nonce_mode == "api" or self._nonce.next_nonce is None:
            self._nonce.next_nonce = await self._server_next_nonce()
        return self._nonce.next_nonce

    async def nonce_status(self) -> NonceStatus:
        """The venue's next nonce, this process's next nonce (None until it signed or prepared) and the last used."""
        server_next = await self._server_next_nonce()
        return NonceStatus(
            account_index=self.account_index,
            api_key_index=self.api_key_index,
            server_next=server_next,
            local_next=self._nonce.next_nonce,
            persisted_last_used=self._nonce_file.last_used() if self._nonce_file else None,
        )

    async def refresh_nonce(self, api_key_index: int | None = None) -> NonceRefresh:
        """Re-read the venue's next nonce for an api key and make it this process's; returns before and after."""
        key = self.api_key_index if api_key_index is None else api_key_index
        slot = nonce_slot(self.base_url, self.account_index, key)
        async with slot.lock():
            before = slot.next_nonce
            if before is None and key == self.api_key_index and self._nonce_file is not None:
                last_used = self._nonce_file.last_used()
                before = last_used + 1 if last_used is not None else None
            after = await self._server_next_nonce(key)
            slot.next_nonce = after
            if after > 0:
                slot.last_used = after - 1
        if key == self.api_key_index and self._nonce_file is not None and after > 0:
            self._nonce_file.write(after - 1)
        logger.info("%s: nonce of api key %s refreshed: %s -> %s", self.name, key, before, after)
        return NonceRefresh(api_key_index=key, before=before, after=after)

    def _persist_nonce(self) -> None:
        if self._nonce_file is not None and self._nonce.last_used is not None:
            self._nonce_file.write(self._nonce.last_used)
