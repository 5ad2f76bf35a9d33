"""Helpers for tests that drive the unmodified lighter-sdk against paper Lighter over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import lighter

from hedgectl.sim.runner import ThreadedPaperVenues

T = TypeVar("T")
ETH = 0


@dataclass(frozen=True)
class PaperLighterAccount:
    """One entry of the accounts document's lighter section."""

    url: str
    name: str
    account_index: int
    api_key_index: int
    api_private_key: str


def lighter_accounts(venues: ThreadedPaperVenues) -> dict[str, PaperLighterAccount]:
    section = venues.accounts_document()["lighter"]
    return {
        entry["name"]: PaperLighterAccount(section["url"], entry["name"], entry["account_index"],
                                           entry["api_key_index"], entry["api_private_key"])
        for entry in section["accounts"]
    }


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an SDK scenario in a fresh event loop (the paper venues run in their own thread)."""
    return asyncio.run(coroutine)


@contextlib.asynccontextmanager
async def signer(account: PaperLighterAccount, **options: Any) -> AsyncIterator[lighter.SignerClient]:
    """A SignerClient for ``account``, built inside the running loop and closed afterwards."""
    client = lighter.SignerClient(url=account.url, account_index=account.account_index,
                                  api_private_keys={account.api_key_index: account.api_private_key}, **options)
    try:
        yield client
    finally:
        await client.close()


def assert_accepted(result: tuple[Any, Any, Any]) -> Any:
    """The response of an SDK order call that the venue accepted (no error, body code 200)."""
    _, response, error = result
    assert error is None, error
    assert response.code == 200
    return response


def auth_token(client: lighter.SignerClient, account: PaperLighterAccount) -> str:
    token, error = client.create_auth_token_with_expiry(api_key_index=account.api_key_index)
    assert error is None, error
    return token


async def orders_by_client_index(client: lighter.SignerClient, account: PaperLighterAccount,
                                 *client_order_indexes: int) -> dict[int, Any]:
    """The account's orders with those client order indexes, read through the SDK's OrderApi."""
    answer = await lighter.OrderApi(client.api_client).account_orders(
        authorization=auth_token(client, account),
        client_order_indexes=",".join(str(index) for index in client_order_indexes),
        account_index=account.account_index,
    )
    return {order.client_order_index: order for order in answer.orders}


async def eth_position(client: lighter.SignerClient, account: PaperLighterAccount) -> tuple[int, str] | None:
    """``(sign, position)`` of the ETH position read through the SDK's AccountApi; None when not listed."""
    answer = await lighter.AccountApi(client.api_client).account(by="index", value=str(account.account_index))
    for position in answer.accounts[0].positions:
        if position.market_id == ETH:
            return position.sign, position.position
    return None


async def next_nonce(client: lighter.SignerClient, account: PaperLighterAccount) -> int:
    answer = await lighter.TransactionApi(client.api_client).next_nonce(
        account_index=account.account_index, api_key_index=account.api_key_index)
    return answer.nonce


async def best_prices(client: lighter.SignerClient, market_id: int = ETH) -> tuple[int, int]:
    """Best bid and best ask of the market in integer ticks, read as the SDK reads them."""
    book = await client.order_api.order_book_orders(market_id, 1)
    return int(book.bids[0].price.replace(".", "")), int(book.asks[0].price.replace(".", ""))
