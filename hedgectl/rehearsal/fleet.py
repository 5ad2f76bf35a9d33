"""Paper fleets: two hedge groups of fresh paper accounts on one set of paper venues, the config that names them,
and (``sim chaos --fleet``) a timed fleet run under faults judged by the venues' own state afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The groups of a paper fleet, and the accounts of each (the venues' default accounts serve the first).
PAPER_GROUPS = {
    "paper1": {"BP": "backpack", "L1": "lighter1", "L2": "lighter2"},
    "paper2": {"BP": "backpack2", "L1": "lighter3", "L2": "lighter4"},
}


def add_paper_group_accounts(venues) -> dict[str, Any]:
    """Open the second group's funded accounts on ``venues`` (a ``ThreadedPaperVenues``); the accounts document."""
    backpack = venues.venues.venue("backpack")
    lighter = venues.venues.venue("lighter")
    roles = PAPER_GROUPS["paper2"]

    def open_accounts() -> None:
        backpack.create_account(roles["BP"])
        for role in ("L1", "L2"):
            lighter.create_account(roles[role])

    venues.call_sync(open_accounts)
    return venues.accounts_document()


def paper_fleet_document(accounts: dict[str, Any], **hedge: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A config document with one [groups.NAME] per paper group (``hedge`` overrides the shared [hedge] keys),
    and the secrets it needs by variable."""
    from hedgectl.config.starter import paper_document

    document, secrets = paper_document(accounts)
    document["hedge"].update(hedge)
    document["hedge"].pop("roles", None)
    document["groups"] = {name: {"roles": dict(roles)} for name, roles in PAPER_GROUPS.items()}
    return document, secrets


def write_paper_fleet_config(venues, directory: Path, *, data_dir: Path, **hedge: Any) -> Path:
    """Write ``directory/fleet.toml`` (and its private secrets file) for a paper fleet on ``venues``; the fleet's
    data directory is ``data_dir``. The file is the fleet's own, rewritten for every paper fleet."""
    from hedgectl.config.starter import write_config

    document, secrets = paper_fleet_document(add_paper_group_accounts(venues), **hedge)
    document["general"]["data_dir"] = str(data_dir)
    path = directory / "fleet.toml"
    write_config(path, document, secrets, force=True)
    return path
