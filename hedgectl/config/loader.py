"""Finding, reading and validating the TOML config, and resolving secrets from env, .env files and key files.

Lookup order of the file: ``--config``, ``HEDGECTL_CONFIG``, ``./hedgectl.toml``, the user config dir
(``~/.config/hedgectl/config.toml``). Secrets come from the environment, then the ``.env`` beside the config file,
then the ``.env`` in the working directory, then the key file a section names; never from the TOML itself.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedgectl.config.model import (
    Config,
    ConnectorConfig,
    GeneralConfig,
    HedgeConfig,
    MIN_PAUSE_SECS,
    LoopConfig,
    MinOrderConfig,
    TelegramConfig,
    TelemetryConfig,
    account_identity,
    parse_summary_time,
)
from hedgectl.config.groups import GROUP_ONLY_KEYS, parse_groups
from hedgectl.config.schema import Problems, check_keys, join, read
from hedgectl.config.secrets import Secret, read_key_file, warn_if_exposed
from hedgectl.errors import ConfigError
from hedgectl.registry import COMMON_CONNECTOR_KEYS, REQUIRED, ROLES, VENUES, env_name

logger = logging.getLogger(__name__)

SECTIONS = ("general", "connectors", "hedge", "groups", "loop", "telemetry", "telegram", "min_order")
HEDGE_KEYS = (
    "roles",
    "symbols",
    "direction",
    "size",
    "l2_size",
    "l2_side",
    "leverage",
    "size_safety_factor",
    "wait_min_secs",
    "wait_max_secs",
    "slippage",
    "retries",
    "retry_delay_secs",
    "order_timeout_secs",
    "monitor_timeout_secs",
    "poll_interval_secs",
    "net_tolerance",
    "liquidation_warning_pct",
    "allow_existing",
)
TELEMETRY_TOKEN_ENV = "HEDGECTL_TELEMETRY_TOKEN"
TELEGRAM_TOKEN_ENV = "HEDGECTL_TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ENV = "HEDGECTL_TELEGRAM_CHAT_ID"


def user_config_path() -> Path:
    from platformdirs import user_config_path as config_dir

    return config_dir("hedgectl") / "config.toml"


def user_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("hedgectl")


def find_config_path(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use, by the documented lookup order; None when none exists."""
    env = os.environ if env is None else env
    if explicit is not None:
        return Path(explicit).expanduser()
    if env.get("HEDGECTL_CONFIG"):
        return Path(env["HEDGECTL_CONFIG"]).expanduser()
    for candidate in (Path.cwd() / "hedgectl.toml", user_config_path()):
        if candidate.is_file():
            return candidate
    return None


def searched_locations() -> str:
    return f"--config, $HEDGECTL_CONFIG, ./hedgectl.toml, {user_config_path()}"


def own_dotenv_path(config_path: Path) -> Path:
    """The secrets file of one config (``hedgectl.toml`` -> ``hedgectl.env``): where hedgectl writes the secrets of
    a config it made when a ``.env`` already sits beside it (that one is never edited)."""
    return config_path.with_suffix(".env") if config_path.suffix != ".env" else config_path.with_name(
        config_path.name + ".env")


def secret_environment(config_path: Path | None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Process environment over the config's own ``<name>.env`` over the .env beside the config file over the .env
    in the working directory. ValueError (naming the file, never its content) for one that cannot be read."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    candidates = [Path.cwd() / ".env"]
    if config_path is not None:
        candidates += [config_path.parent / ".env", own_dotenv_path(config_path)]
    seen: set[Path] = set()
    for dotenv_path in candidates:
        try:
            resolved = dotenv_path.resolve()
            if resolved in seen or not dotenv_path.is_file():
                continue
            seen.add(resolved)
            warn_if_exposed(dotenv_path)
            with open(dotenv_path, encoding="utf-8") as stream:
                values = dotenv_values(stream=stream)
        except (OSError, UnicodeDecodeError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ValueError(f"cannot read secrets file {dotenv_path}: {reason}") from None
        merged.update({k: v for k, v in values.items() if v})
    merged.update({k: v for k, v in (os.environ if env is None else env).items() if v})
    return merged


@dataclass
class LoadResult:
    """A best-effort config and every problem found; ``missing_secrets`` are reported separately."""

    config: Config | None
    problems: list[str]
    missing_secrets: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.missing_secrets


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    require_secrets: bool = False,
) -> Config:
    """Find and load the config; raise ConfigError listing every problem (and missing secrets if required)."""
    found = find_config_path(path, env)
    if found is None:
        raise ConfigError(
            f"no config file found (looked at {searched_locations()}); run 'hedgectl config init' or use --paper"
        )
    result = inspect_config(found, env=env)
    problems = list(result.problems)
    if require_secrets:
        problems += result.missing_secrets
    if problems or result.config is None:
        raise ConfigError(problems)
    return result.config


#: No hedgectl setting is nested more than a few levels; a deeper document is refused before anything walks it.
MAX_NESTING = 32


def _nesting_depth(document: Any) -> int:
    """How deep tables and arrays nest in ``document``, walked without recursion."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def inspect_config(path: Path, *, env: Mapping[str, str] | None = None) -> LoadResult:
    """Read and validate one file; never raises for content problems."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(None, [f"config file {path} does not exist"], [])
    except OSError as exc:
        return LoadResult(None, [f"cannot read config file {path}: {exc.strerror or exc}"], [])
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return LoadResult(None, [f"{path}: not UTF-8 text"], [])
    except tomllib.TOMLDecodeError as exc:
        return LoadResult(None, [f"{path}: invalid TOML: {exc}"], [])
    except RecursionError:
        return LoadResult(None, [f"{path}: invalid TOML: nested too deeply"], [])
    if _nesting_depth(document) > MAX_NESTING:
        # whether the parser itself overflows depends on the interpreter's recursion limit; this does not
        return LoadResult(None, [f"{path}: invalid TOML: nested too deeply (more than {MAX_NESTING} levels)"], [])
    try:
        environment = secret_environment(path, env)
    except ValueError as exc:
        return LoadResult(None, [str(exc)], [])
    return parse_config(document, path=path, env=environment)


def parse_config(document: dict[str, Any], *, path: Path | None, env: Mapping[str, str]) -> LoadResult:
    """Validate a parsed TOML document and resolve its secrets from ``env``."""
    problems = Problems()
    missing: list[str] = []
    base_dir = path.parent if path is not None else Path.cwd()
    check_keys(document, SECTIONS, "", problems)

    general_table = _table(document, "general", problems)
    check_keys(general_table, ("debug", "data_dir"), "general", problems)
    if "debug" in general_table:
        # configs written before the key was dropped still load; debug output comes from --debug or HEDGECTL_DEBUG
        logger.warning("%s: general.debug is no longer read (use --debug or HEDGECTL_DEBUG); remove it",
                       path if path is not None else "config")
    general = GeneralConfig(
        data_dir=read(general_table, "data_dir", "path", "general", problems, default=None, base_dir=base_dir),
    )

    connectors: dict[str, ConnectorConfig] = {}
    for name, table in _table(document, "connectors", problems).items():
        where = f"connectors.{name}"
        if not isinstance(table, dict):
            problems.add(where, "expected a table like [connectors.NAME]")
            continue
        connector = _parse_connector(name, table, where, problems, env, base_dir)
        if connector is not None:
            connectors[name] = connector
            missing += [f"{where}: missing {item}" for item in connector.missing_secrets]

    # roles are checked against the connectors only when the file has a [hedge] table: a config for reading
    # positions alone need not name its connectors after the hedge's default roles
    # with [groups], [hedge] only holds what the groups share: each group's roles are checked instead
    hedge_table = _table(document, "hedge", problems)
    checked = "hedge" in document and "groups" not in document
    hedge = _parse_hedge(hedge_table, connectors if checked else {}, problems)
    loop = _parse_loop(_table(document, "loop", problems), problems, base_dir)
    telemetry, telemetry_missing = _parse_telemetry(_table(document, "telemetry", problems), problems, env, base_dir)
    groups = parse_groups(document, hedge_table, connectors, telemetry, problems, _parse_hedge)
    telegram, telegram_missing = _parse_telegram(_table(document, "telegram", problems), problems, env, base_dir)
    missing += telemetry_missing + telegram_missing

    min_order_table = _table(document, "min_order", problems)
    check_keys(min_order_table, ("targets", "attempts"), "min_order", problems)
    min_order = MinOrderConfig(
        targets=read(min_order_table, "targets", "str_list", "min_order", problems, default=()),
        attempts=read(min_order_table, "attempts", "int", "min_order", problems, default=1, minimum=1, maximum=20),
    )
    config = Config(
        path=path,
        general=general,
        connectors=connectors,
        hedge=hedge,
        loop=loop,
        telemetry=telemetry,
        telegram=telegram,
        min_order=min_order,
        groups=groups,
    )
    return LoadResult(config, problems.items, missing)


def _table(document: dict[str, Any], key: str, problems: Problems) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        problems.add(key, f"expected a table [{key}]")
        return {}
    return value


def _parse_connector(
    name: str, table: dict[str, Any], where: str, problems: Problems, env: Mapping[str, str], base_dir: Path
) -> ConnectorConfig | None:
    if not name.replace("_", "").replace("-", "").isalnum():
        problems.add(where, "connector names may use letters, digits, '-' and '_' only")
        return None
    venue = read(table, "venue", "choice", where, problems, choices=tuple(sorted(VENUES)))
    if venue is None:
        return None
    spec = VENUES[venue]
    check_keys(table, COMMON_CONNECTOR_KEYS + tuple(o.name for o in spec.options), where, problems)
    base_url = read(table, "base_url", "url", where, problems, default=spec.default_base_url)
    timeout = read(table, "timeout_secs", "float", where, problems, default=10.0, minimum=0.1, maximum=300)
    read_retries = read(table, "read_retries", "int", where, problems, default=3, minimum=1, maximum=20)
    key_file, file_values = _read_key_file_option(table, where, problems, base_dir)

    options: dict[str, Any] = {}
    for option in spec.options:
        default = option.default
        if option.name == "api_key_index" and "api_key_index" in file_values:
            try:
                default = int(file_values["api_key_index"])
            except ValueError:
                problems.add(join(where, "key_file"), "'api key index' in the key file is not an integer")
        value = read(
            table,
            option.name,
            option.kind,
            where,
            problems,
            default=default,
            choices=option.choices,
            minimum=option.minimum,
            maximum=option.maximum,
        )
        options[option.name] = value
    if venue == "lighter" and options.get("api_key_index") is None and "api_key_index" not in table:
        problems.add(join(where, "api_key_index"), "missing: set api_key_index or give it in the key file")

    secrets: dict[str, Secret] = {}
    missing: list[str] = []
    for secret in spec.secrets:
        variable = env_name(name, secret.env_suffix)
        if env.get(variable):
            secrets[secret.name] = Secret(env[variable], source=f"${variable}", register=secret.secret)
        elif file_values.get(secret.name):
            secrets[secret.name] = Secret(file_values[secret.name], source=str(key_file), register=secret.secret)
        else:
            missing.append(f"{secret.name} ({secret.help}): set ${variable} or key_file")
    return ConnectorConfig(
        name=name,
        venue=venue,
        base_url=base_url or spec.default_base_url,
        options=options,
        secrets=secrets,
        timeout_secs=timeout,
        read_retries=read_retries,
        missing_secrets=tuple(missing),
    )


def _read_key_file_option(
    table: dict[str, Any], where: str, problems: Problems, base_dir: Path
) -> tuple[Path | None, dict[str, str]]:
    """The ``key_file`` of a table and the values in it (empty, with a problem recorded, when unreadable)."""
    key_file = read(table, "key_file", "path", where, problems, default=None, base_dir=base_dir)
    if key_file is None:
        return None, {}
    try:
        return key_file, read_key_file(key_file)
    except ValueError as exc:
        problems.add(join(where, "key_file"), str(exc))
        return key_file, {}


def _parse_hedge(table: dict[str, Any], connectors: dict[str, ConnectorConfig], problems: Problems,
                 where: str = "hedge") -> HedgeConfig:
    defaults = HedgeConfig()
    check_keys(table, HEDGE_KEYS + (GROUP_ONLY_KEYS if where != "hedge" else ()), where, problems)

    def get(key: str, kind: str, **kw: Any) -> Any:
        return read(table, key, kind, where, problems, default=getattr(defaults, key), **kw)

    roles = get("roles", "str_map")
    check_keys(roles, ROLES, join(where, "roles"), problems)
    roles = {**defaults.roles, **{k: v for k, v in roles.items() if k in ROLES}}
    symbols = {**defaults.symbols, **get("symbols", "str_map")}
    slippage = {**defaults.slippage, **get("slippage", "decimal_map")}
    retries = {**defaults.retries, **get("retries", "int_map")}
    hedge = HedgeConfig(
        roles=roles,
        symbols=symbols,
        direction=get("direction", "choice", choices=("long", "short")),
        size=get("size", "decimal", minimum=0),
        l2_size=get("l2_size", "decimal", minimum=0),
        l2_side=get("l2_side", "choice", choices=("same", "opposite")),
        leverage=get("leverage", "decimal", minimum=1, maximum=100),
        size_safety_factor=get("size_safety_factor", "decimal", minimum=0, maximum=1),
        wait_min_secs=get("wait_min_secs", "float", minimum=0),
        wait_max_secs=get("wait_max_secs", "float", minimum=0),
        slippage=slippage,
        retries=retries,
        retry_delay_secs=get("retry_delay_secs", "float", minimum=0, maximum=60),
        order_timeout_secs=get("order_timeout_secs", "float", minimum=0.1, maximum=600),
        monitor_timeout_secs=get("monitor_timeout_secs", "float", minimum=0),
        poll_interval_secs=get("poll_interval_secs", "float", minimum=0.05, maximum=3600),
        net_tolerance=get("net_tolerance", "decimal", minimum=0),
        liquidation_warning_pct=get("liquidation_warning_pct", "decimal", minimum=0, maximum=1),
        allow_existing=get("allow_existing", "bool"),
    )
    if hedge.size is not None and hedge.size == 0:
        problems.add(join(where, "size"), "must be greater than zero (or left out to size from collateral)")
    if hedge.wait_min_secs is not None and hedge.wait_max_secs is not None:
        if hedge.wait_min_secs > hedge.wait_max_secs:
            problems.add(
                join(where, "wait_min_secs"),
                f"is greater than wait_max_secs ({hedge.wait_min_secs} > {hedge.wait_max_secs})",
            )
    for venue, value in slippage.items():
        if not (Decimal(0) <= value < 1):
            problems.add(join(where, f"slippage.{venue}"), "must be a fraction in [0, 1), e.g. 0.005 for 0.5 %")
    for venue, value in retries.items():
        if value < 0 or value > 20:
            problems.add(join(where, f"retries.{venue}"), "must be between 0 and 20")
    if connectors:
        _check_roles(hedge, connectors, problems, where)
    return hedge


LOOP_KEYS = ("pause_min_secs", "pause_max_secs", "max_loss_day", "max_loss_total", "max_emergency_exits", "stop_file")


def _parse_loop(table: dict[str, Any], problems: Problems, base_dir: Path) -> LoopConfig:
    where = "loop"
    defaults = LoopConfig()
    check_keys(table, LOOP_KEYS, where, problems)

    def get(key: str, kind: str, **kw: Any) -> Any:
        return read(table, key, kind, where, problems, default=getattr(defaults, key), **kw)

    loop = LoopConfig(
        pause_min_secs=get("pause_min_secs", "float", minimum=MIN_PAUSE_SECS),
        pause_max_secs=get("pause_max_secs", "float", minimum=MIN_PAUSE_SECS),
        max_loss_day=get("max_loss_day", "decimal", minimum=0),
        max_loss_total=get("max_loss_total", "decimal", minimum=0),
        max_emergency_exits=get("max_emergency_exits", "int", minimum=0, maximum=1000),
        stop_file=get("stop_file", "path", base_dir=base_dir),
    )
    if loop.pause_min_secs is not None and loop.pause_max_secs is not None:
        if loop.pause_min_secs > loop.pause_max_secs:
            problems.add(join(where, "pause_min_secs"),
                         f"is greater than pause_max_secs ({loop.pause_min_secs} > {loop.pause_max_secs})")
    for key in ("max_loss_day", "max_loss_total"):
        if getattr(loop, key) == 0:
            problems.add(join(where, key), "must be greater than zero (or left out for no limit)")
    return loop


def _check_roles(hedge: HedgeConfig, connectors: dict[str, ConnectorConfig], problems: Problems,
                 table: str = "hedge") -> None:
    seen_accounts: dict[tuple, str] = {}
    for role, name in hedge.roles.items():
        where = f"{table}.roles.{role}"
        connector = connectors.get(name)
        if connector is None:
            problems.add(where, f"names connector '{name}', which is not configured")
            continue
        if connector.venue not in hedge.symbols:
            problems.add(f"{table}.symbols", f"no symbol for venue '{connector.venue}' (used by role {role})")
        account = account_identity(connector)
        if account in seen_accounts:
            problems.add(where, f"uses the same account as role {seen_accounts[account]}; each role needs its own")
        else:
            seen_accounts[account] = role


def _parse_telemetry(
    table: dict[str, Any], problems: Problems, env: Mapping[str, str], base_dir: Path
) -> tuple[TelemetryConfig, list[str]]:
    where = "telemetry"
    defaults = TelemetryConfig()
    check_keys(table, ("enabled", "base_url", "group", "interval_secs", "bots", "json_file"), where, problems)
    legacy: dict[str, Any] = {}
    json_file = read(table, "json_file", "path", where, problems, default=None, base_dir=base_dir)
    if json_file is not None:
        try:
            legacy = json.loads(json_file.read_text(encoding="utf-8"))
            if not isinstance(legacy, dict):
                raise ValueError("not a JSON object")
            warn_if_exposed(json_file)
        except (OSError, ValueError) as exc:
            problems.add(join(where, "json_file"), f"cannot use {json_file}: {exc}")
            legacy = {}
    merged = {k: v for k, v in legacy.items() if k in ("base_url", "group", "bots")}
    merged.update({k: v for k, v in table.items() if k != "json_file"})
    enabled = read(merged, "enabled", "bool", where, problems, default=bool(legacy))
    base_url = read(merged, "base_url", "url", where, problems, default=None)
    bots = {**defaults.bots, **read(merged, "bots", "str_map", where, problems, default={})}
    check_keys(bots, ROLES, join(where, "bots"), problems)
    token_value = env.get(TELEMETRY_TOKEN_ENV) or (legacy.get("token") if isinstance(legacy.get("token"), str) else None)
    token = Secret(token_value, source=TELEMETRY_TOKEN_ENV) if token_value else None
    telemetry = TelemetryConfig(
        enabled=enabled,
        base_url=base_url,
        group=read(merged, "group", "str", where, problems, default=None),
        interval_secs=read(merged, "interval_secs", "float", where, problems, default=10.0, minimum=0.1),
        bots={k: v for k, v in bots.items() if k in ROLES},
        token=token,
    )
    if telemetry.enabled and not telemetry.base_url:
        problems.add(join(where, "base_url"), "required when telemetry is enabled")
    return telemetry, []


def _parse_telegram(
    table: dict[str, Any], problems: Problems, env: Mapping[str, str], base_dir: Path
) -> tuple[TelegramConfig, list[str]]:
    where = "telegram"
    check_keys(table, ("enabled", "base_url", "key_file", "daily_summary"), where, problems)
    daily_summary = read(table, "daily_summary", "str", where, problems, default=None)
    if daily_summary is not None:
        try:
            parse_summary_time(daily_summary)
        except ValueError as exc:
            problems.add(join(where, "daily_summary"), str(exc))
            daily_summary = None
    enabled = read(table, "enabled", "bool", where, problems, default=False)
    base_url = read(table, "base_url", "url", where, problems, default="https://api.telegram.org")
    key_file, file_values = _read_key_file_option(table, where, problems, base_dir)
    token_value = env.get(TELEGRAM_TOKEN_ENV) or file_values.get("bot_token")
    chat_id = env.get(TELEGRAM_CHAT_ENV) or file_values.get("chat_id")
    missing = []
    if enabled and not token_value:
        missing.append(f"telegram: missing bot_token: set ${TELEGRAM_TOKEN_ENV} or key_file")
    if enabled and not chat_id:
        missing.append(f"telegram: missing chat_id: set ${TELEGRAM_CHAT_ENV} or key_file")
    telegram = TelegramConfig(
        enabled=enabled,
        base_url=base_url,
        bot_token=Secret(token_value, source=f"${TELEGRAM_TOKEN_ENV}" if env.get(TELEGRAM_TOKEN_ENV) else str(key_file))
        if token_value else None,
        chat_id=chat_id,
        daily_summary=daily_summary,
    )
    return telegram, missing
