"""Paper GRVT's sub accounts: an API key with its signing wallet, as the accounts file hands it to connectors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GrvtKey:
    """An API key of a paper sub account: the key (secret), its signing wallet's private key (secret) and address."""

    account: str
    api_key: str
    private_key: str
    address: str
    sub_account_id: int
    main_account_id: str

    def __repr__(self) -> str:
        return f"GrvtKey(account={self.account!r}, sub_account_id={self.sub_account_id}, address={self.address!r})"


def new_wallet() -> tuple[str, str]:
    """A fresh signing wallet: ``(private key as 0x hex, address)``."""
    # imported here: eth-account is slow to import, and only GRVT accounts need it
    from eth_account import Account

    wallet = Account.create()
    return "0x" + bytes(wallet.key).hex(), wallet.address
