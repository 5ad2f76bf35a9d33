"""``hedgectl sim``: run the paper venues, arm faults on them, and read their state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from hedgectl.cli.state import state
from hedgectl.errors import ExitCode, UsageError
from hedgectl.sim.faults import MAX_TEXT_LENGTH, bounds_help

app = typer.Typer(help="Paper venues: serve them, inject faults, inspect their state.", no_args_is_help=True)

VENUES = ("backpack", "lighter", "grvt", "telegram")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
URL_OPTION = typer.Option(None, "--url", help="The paper venue's base URL (default: from --accounts or the config).")
ACCOUNTS_OPTION = typer.Option(
    None, "--accounts", help="An accounts file written by 'sim serve --accounts-out' to find the venue's URL."
)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    backpack_port: int = typer.Option(0, "--backpack-port", min=0, max=65535, help="0 picks a free port."),
    lighter_port: int = typer.Option(0, "--lighter-port", min=0, max=65535),
    telegram_port: int = typer.Option(0, "--telegram-port", min=0, max=65535),
    grvt_port: int = typer.Option(0, "--grvt-port", min=0, max=65535),
    seed: int = typer.Option(0, "--seed", help="Seed of the market's random walk and of every other random choice."),
    tick_seconds: float = typer.Option(1.0, "--tick-seconds", min=0, help="Seconds between price steps (0 freezes)."),
    accounts_out: Path | None = typer.Option(None, "--accounts-out", help="Write the accounts file here (0600)."),
    write_config: Path | None = typer.Option(
        None, "--write-config", help="Write a hedgectl config for these venues here, secrets in a .env beside it "
        "and a data directory of its own beside it."
    ),
    state_file: Path | None = typer.Option(None, "--state-file", help="Keep accounts and positions across restarts."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --write-config or --accounts-out file (an existing .env is never "
        "touched: the secrets then go to <config name>.env)."
    ),
) -> None:
    """Start paper Backpack, Lighter, GRVT and Telegram with funded accounts; stay up until Ctrl-C."""
    from hedgectl.config.starter import plan_config_files
    from hedgectl.files import refuse_existing
    from hedgectl.sim.ports import busy_port, first_busy_port
    from hedgectl.sim.runner import run_serve

    terminal = state(ctx).terminal()
    ports = {"backpack": backpack_port, "lighter": lighter_port, "grvt": grvt_port, "telegram": telegram_port}
    # every refusal comes before a venue starts, so a refused command leaves nothing behind
    if write_config is not None:
        plan_config_files(write_config, with_secrets=True, force=force)
    if accounts_out is not None:
        refuse_existing(accounts_out, force=force, what="accounts file")
    taken = first_busy_port(host, ports)
    if taken is not None:
        raise UsageError(f"port {taken} is in use")

    def on_ready(venues) -> None:
        from hedgectl.config.starter import write_paper_config
        from hedgectl.files import write_new_file

        for kind, venue in venues.venues.items():
            terminal.info(f"paper {kind:<9} {venue.url}")
        document = venues.accounts_document()
        if accounts_out is not None:
            write_new_file(accounts_out, json.dumps(document, indent=2) + "\n", force=force, private=True,
                           what="accounts file")
            terminal.info(f"accounts written to {accounts_out}")
        if write_config is not None:
            written = write_paper_config(write_config, document, force=force)
            terminal.info(f"config written to {write_config} (secrets in {written.secrets_path}, mode 0600)")
            if written.dotenv_kept is not None:
                terminal.warn(f"{written.dotenv_kept} was left alone: this config's secrets are in "
                              f"{written.secrets_path}, which hedgectl reads after it")
        terminal.success("paper venues ready; Ctrl-C stops them")

    try:
        run_serve(
            host=host,
            ports=ports,
            seed=seed,
            tick_seconds=tick_seconds,
            state_file=state_file,
            on_ready=on_ready,
        )
    except OSError as exc:
        port = busy_port(host, ports, exc)
        if port is None:
            raise
        raise UsageError(f"port {port} is in use") from None
    terminal.info("paper venues stopped")


def _venue_url(ctx: typer.Context, venue: str, url: str | None, accounts: Path | None) -> str:
    if venue not in VENUES:
        raise UsageError(f"unknown paper venue '{venue}' (one of {', '.join(VENUES)})")
    if url:
        return url.rstrip("/")
    if accounts is not None:
        try:
            document = json.loads(accounts.read_text(encoding="utf-8"))
            return document[venue]["url"].rstrip("/")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot find {venue}'s URL in {accounts}: {exc}") from None
    config = state(ctx).config()
    if venue == "telegram":
        return config.telegram.base_url
    for connector in config.connectors.values():
        if connector.venue == venue:
            return connector.base_url
    raise UsageError(f"no {venue} connector in the config; pass --url or --accounts")


def _request(method: str, url: str, body: Any = None) -> Any:
    import httpx

    try:
        response = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("error") or response.text
        except ValueError:
            detail = response.text
        raise UsageError(f"{url}: {detail}")
    return response.json() if response.content else None


@app.command("fault")
def fault(
    ctx: typer.Context,
    venue: str = typer.Argument(..., help="backpack, lighter, grvt or telegram."),
    kind: str | None = typer.Argument(
        None,
        help="latency, error, rate_limit, reject, drop_after_execute, partial_fill, nonce_skew, liquidate, "
        "price_move, down, lag, or a stream fault: stream_disconnect, stream_stall, stream_miss, stream_duplicate, "
        "stream_delay.",
    ),
    account: str | None = typer.Option(None, "--account", help="Only requests of this account (e.g. lighter2)."),
    count: int | None = typer.Option(None, "--count", help=f"Fire this many times, then disarm; {bounds_help('count')}."),
    ms: int | None = typer.Option(
        None, "--ms", help=f"latency: fixed delay; lag: how far records trail (above 0); {bounds_help('ms')}."
    ),
    jitter_ms: int | None = typer.Option(
        None, "--jitter-ms", help=f"latency: uniform extra delay; {bounds_help('jitter_ms')}."
    ),
    status: int | None = typer.Option(None, "--status", help=f"error: the 5xx status; {bounds_help('status')}."),
    retry_after: int | None = typer.Option(
        None, "--retry-after", help=f"rate_limit: seconds; {bounds_help('retry_after')}."
    ),
    code: str | None = typer.Option(None, "--code", help="reject: the venue error code."),
    message: str | None = typer.Option(
        None, "--message", help=f"reject: the venue error message (at most {MAX_TEXT_LENGTH} characters)."
    ),
    mode: str | None = typer.Option(None, "--mode", help="drop_after_execute: close or 504."),
    delay_ms: int | None = typer.Option(
        None, "--delay-ms", help=f"drop_after_execute: delay before a 504; {bounds_help('delay_ms')}."
    ),
    fraction: str | None = typer.Option(
        None, "--fraction", help=f"partial_fill: share that fills; {bounds_help('fraction')}."
    ),
    amount: int | None = typer.Option(
        None, "--amount", help=f"nonce_skew: how far the nonce jumps; {bounds_help('amount')}."
    ),
    api_key_index: int | None = typer.Option(
        None, "--api-key-index", help=f"nonce_skew: which api key; {bounds_help('api_key_index')}."
    ),
    percent: str | None = typer.Option(
        None, "--percent", help=f"price_move: signed percentage shock; {bounds_help('percent')}."
    ),
    symbol: str | None = typer.Option(None, "--symbol", help="price_move: base asset, e.g. ETH."),
    seconds: float | None = typer.Option(
        None, "--seconds", help=f"down: how long connections are refused; {bounds_help('seconds')}."
    ),
    path: str | None = typer.Option(None, "--path", help="Only requests to this API path."),
    clear: bool = typer.Option(False, "--clear", help="Clear armed faults (of KIND, or all) instead."),
    url: str | None = URL_OPTION,
    accounts: Path | None = ACCOUNTS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Arm a fault on a paper venue (or clear faults with --clear). Every option is bounded (see each option's
    range); the venue refuses what is out of range as well."""
    from hedgectl.sim.faults import Fault, FaultError, FaultKind

    kinds = [k.value for k in FaultKind]
    if kind is not None and kind not in kinds:
        raise UsageError(f"unknown fault kind '{kind}' (one of {', '.join(kinds)})")
    base = _venue_url(ctx, venue, url, accounts)
    terminal = state(ctx).terminal(json_mode=json_output)
    if clear:
        target = f"{base}/_sim/faults" + (f"?kind={kind}" if kind else "")
        answer = _request("DELETE", target)
        terminal.result(answer, lambda: f"cleared faults on {venue}: {answer}")
        return
    if kind is None:
        raise UsageError("give a fault KIND (or --clear)")
    options = {
        "kind": kind, "account": account, "count": count, "ms": ms, "jitter_ms": jitter_ms, "status": status,
        "retry_after": retry_after, "code": code, "message": message, "mode": mode, "delay_ms": delay_ms,
        "fraction": fraction, "amount": amount, "api_key_index": api_key_index, "percent": percent,
        "symbol": symbol, "seconds": seconds, "path": path,
    }
    body = {key: value for key, value in options.items() if value is not None}
    try:
        Fault.from_json(body)
    except FaultError as exc:
        raise UsageError(f"{kind}: {exc}") from None
    answer = _request("POST", f"{base}/_sim/faults", body)
    terminal.result(answer, lambda: f"armed on {venue}: {json.dumps(answer)}")


@app.command("state")
def show_state(
    ctx: typer.Context,
    venue: str = typer.Argument(..., help="backpack, lighter, grvt or telegram."),
    url: str | None = URL_OPTION,
    accounts: Path | None = ACCOUNTS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show a paper venue's accounts, positions, open orders, mid prices and armed faults."""
    base = _venue_url(ctx, venue, url, accounts)
    document = _request("GET", f"{base}/_sim/state")
    state(ctx).terminal(json_mode=json_output).result(document, lambda: _render_state(venue, document))


def _render_state(venue: str, document: dict[str, Any]):
    from rich.console import Group
    from rich.table import Table

    parts: list[Any] = []
    if "mid_prices" in document:
        prices = Table("asset", "mid", title=f"{venue}: mid prices")
        for asset, price in document["mid_prices"].items():
            prices.add_row(asset, str(price))
        parts.append(prices)
    accounts = document.get("accounts") or {}
    if accounts:
        table = Table("account", "collateral", "equity", "available", "positions", title=f"{venue}: accounts")
        for name, account in accounts.items():
            positions = ", ".join(
                f"{p.get('symbol')} {p.get('signed_size', p.get('size'))}" for p in account.get("positions", [])
            )
            table.add_row(
                str(name), str(account.get("collateral")), str(account.get("equity")),
                str(account.get("available")), positions or "flat",
            )
        parts.append(table)
    if document.get("open_orders"):
        parts.append(f"open orders: {len(document['open_orders'])}")
    if document.get("messages") is not None:
        parts.append(f"messages recorded: {len(document['messages'])}")
    if document.get("faults"):
        parts.append(f"armed faults: {json.dumps(document['faults'])}")
    return Group(*parts)


@app.command("chaos")
def chaos(
    ctx: typer.Context,
    cycles: int = typer.Option(50, "--cycles", min=1, help="How many hedge cycles to run."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the whole run; each cycle derives its own from it."),
    kill: bool = typer.Option(
        False, "--kill", help="Run each cycle as a 'hedge run' process, SIGKILL it at a random moment, then recover."
    ),
    replay: int | None = typer.Option(
        None, "--replay", min=0, help="Run only the cycle with this seed (printed for every failing cycle)."
    ),
    bridge: str = typer.Option(
        "backpack", "--bridge", help="Venue of the bridge (BP) leg: backpack, grvt, or mixed (drawn per cycle)."
    ),
    lag: bool = typer.Option(
        False, "--lag", help="Also draw venue records trailing the engine (the lag fault) in most cycles."
    ),
    streams: bool = typer.Option(
        False, "--streams", help="Also draw account stream faults (disconnect, stall, missed, duplicated or late "
        "pushes) in most cycles."
    ),
    signals: bool = typer.Option(
        False, "--signals", help="Run each cycle as a 'hedge run' process and send it SIGHUP, SIGTERM, SIGINT, a "
        "double SIGINT or SIGQUIT in a random phase, then recover where it exits 4."
    ),
    json_output: bool = JSON_OPTION,
    fleet: bool = typer.Option(
        False, "--fleet", help="Run a fleet of two groups ('fleet run') under faults for --duration seconds instead."
    ),
    duration: float | None = typer.Option(None, "--duration", min=10, help="Seconds a --fleet rehearsal runs."),
) -> None:
    """Run hedge cycles under random faults against embedded paper venues and check every end state at the venues."""
    import logging

    from hedgectl.rehearsal.plan import BRIDGE_CHOICES
    from hedgectl.rehearsal.runner import run_chaos

    if fleet or duration is not None:
        from hedgectl.cli.fleet import chaos_fleet

        raise typer.Exit(chaos_fleet(state(ctx), fleet=fleet, duration=duration, seed=seed, json_output=json_output))

    if bridge not in BRIDGE_CHOICES:
        raise UsageError(f"--bridge must be one of {', '.join(BRIDGE_CHOICES)}, not {bridge!r}")
    if kill and signals:
        raise UsageError("--kill and --signals are separate rehearsals: choose one")

    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    if not app_state.debug:
        # a rehearsal full of faults makes every module warn, and killed clients make the venues' server complain;
        # what matters is in the report
        logging.getLogger("hedgectl").setLevel(logging.ERROR)
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    total = 1 if replay is not None else cycles
    done: list = []

    def view():
        from rich.text import Text

        failing = sum(1 for cycle in done if cycle.failed)
        return Text(f"chaos: cycle {len(done)}/{total}, failing {failing}")

    with terminal.live(view) as refresh:

        def on_cycle(cycle) -> None:
            done.append(cycle)
            if cycle.failed:
                reasons = "; ".join(cycle.unsafe_reasons + cycle.duplicates + cycle.problems)
                terminal.warn(f"cycle {cycle.index} ({cycle.replay_hint()}): {reasons}")
            refresh()

        report = run_chaos(cycles, seed=seed, kill=kill, replay=replay, on_cycle=on_cycle, bridge=bridge,
                           lag=lag, signals=signals, streams=streams)
    terminal.result(report.as_dict(), lambda: _render_chaos(report))
    counts = report.counts()
    if counts["unsafe"]:
        raise typer.Exit(ExitCode.POSITION_OPEN)
    if counts["duplicates"] or counts["problems"]:
        raise typer.Exit(ExitCode.FAILURE)


def _render_chaos(report):
    from collections import Counter

    from rich.table import Table

    counts = report.counts()
    title = "hedgectl sim chaos" + (" --kill" if report.kill else "") + (" --signals" if report.signals else "") + (
        f" --bridge {report.bridge}" if report.bridge != "backpack" else "") + (
        " --lag" if any(cycle.plan.lag for cycle in report.cycles) else "") + (
        " --streams" if any(cycle.plan.streams for cycle in report.cycles) else "") + (
        f" (seed {report.seed})" if report.seed is not None else " (replay)"
    )
    table = Table("", "", title=title, show_header=False)
    table.add_row("cycles", f"{counts['cycles']} in {report.duration_secs:.0f} s")
    if report.bridge == "mixed":
        bridges = Counter(cycle.plan.bridge for cycle in report.cycles)
        table.add_row("bridge venues", ", ".join(f"{venue} {n}" for venue, n in bridges.most_common()))
    table.add_row("outcomes", ", ".join(f"{outcome} {n}" for outcome, n in report.outcomes().items()))
    table.add_row("faults drawn", ", ".join(f"{kind} {n}" for kind, n in report.fault_kinds().items()))
    table.add_row("unsafe end states", _count(counts["unsafe"]))
    table.add_row("duplicates", _count(counts["duplicates"]))
    longest = report.longest_naked_window()
    if longest is not None:
        table.add_row("longest naked window", f"{longest.end.naked_window_ms:.0f} ms (seed {longest.plan.seed})")
    if report.kill:
        table.add_row("killed mid-cycle", str(counts["killed"]))
    if report.signals:
        sent = Counter(cycle.plan.stop_signal.kind for cycle in report.cycles if cycle.signalled.startswith("SIG"))
        kinds = ", ".join(f"{kind} {n}" for kind, n in sent.most_common())
        table.add_row("signalled", f"{counts['signalled']}: {kinds}")
        exits = Counter(cycle.exit_code for cycle in report.cycles)
        table.add_row("hedge run exit codes", ", ".join(f"{code}: {n}" for code, n in sorted(exits.items(), key=str)))
    table.add_row("recoveries needed / succeeded", f"{counts['recoveries_needed']} / {counts['recoveries_succeeded']}")
    table.add_row("crashes, hangs, unarmed faults", _count(counts["problems"]))
    failing = report.failing()
    table.add_row("failing seeds", "\n".join(cycle.replay_hint() for cycle in failing) or "none")
    return table


def _count(value: int) -> str:
    return f"[green]{value}[/green]" if value == 0 else f"[red]{value}[/red]"
