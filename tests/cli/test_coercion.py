"""Command-line values are converted without pydantic, to exactly what Typer's own conversion returns; every other
value, and every refusal, is Typer's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from hedgectl.cli.coercion import DirectRuntimeParam, install
from tests.cli.conftest import write_paper_config


def probe_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)

    @app.command()
    def probe(
        names: list[str] | None = typer.Argument(None),
        count: int = typer.Option(3, "--count"),
        port: int | None = typer.Option(None, "--port", min=0, max=65535),
        interval: float = typer.Option(2, "--interval", min=0.2),
        ratio: float | None = typer.Option(None, "--ratio"),
        label: str | None = typer.Option(None, "--label"),
        config: Path | None = typer.Option(None, "--config", dir_okay=False),
        existing: Path | None = typer.Option(None, "--existing", exists=True),
        tags: list[str] | None = typer.Option(None, "--tag"),
        parsed: str | None = typer.Option(None, "--parsed", parser=str.upper),
        flag: bool = typer.Option(False, "--flag"),
    ) -> None:
        """A command with every kind of parameter hedgectl's commands declare."""

    return app


def parse(args: list[str], *, direct: bool) -> tuple[str, object]:
    """What the command's parameters come to from ``args``: ("ok", values) or ("refused", Typer's message)."""
    command = typer.main.get_command(probe_app())
    if direct:
        install(command)
    try:
        with command.make_context("probe", list(args)) as ctx:
            values = {name: (type(value), value) for name, value in ctx.params.items()}
    except typer.BadParameter as exc:
        return "refused", exc.format_message()
    except typer.TyperException as exc:  # a usage error of another kind
        return "refused", exc.format_message()
    return "ok", values


CASES = [
    [],
    ["a", "b"],
    ["--count", "7"], ["--count", "-7"], ["--count", "0"], ["--count", "007"], ["--count", "+7"], ["--count", " 7"],
    ["--count", "7.0"], ["--count", "1_000"], ["--count", "x"], ["--count", ""], ["--count", "99999999999999999999999"],
    ["--port", "0"], ["--port", "65535"], ["--port", "65536"], ["--port", "-1"],
    ["--interval", "0.2"], ["--interval", "0.19"], ["--interval", "5"], ["--interval", "1.5"], ["--interval", "1e3"],
    ["--interval", "inf"], ["--interval", "nan"], ["--interval", ".5"], ["--interval", "abc"],
    ["--ratio", "-0.125"], ["--ratio", "0.1000000000000000055511151231257827"], ["--ratio", "-0"],
    ["--label", "plain"], ["--label", ""], ["--label", "-"], ["--label", "ünïcode [x]"],
    ["--config", "conf/hedgectl.toml"], ["--config", "."], ["--config", "-"], ["--config", ""],
    ["--existing", "missing-file"], ["--existing", "."],
    ["--tag", "x", "--tag", "y"], ["--tag", ""], ["--parsed", "lower"],
    ["--flag"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(case) or "(none)" for case in CASES])
def test_a_value_converts_to_what_typers_own_conversion_makes_of_it(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse(args, direct=True) == parse(args, direct=False)


def test_the_obvious_values_are_converted_without_typers_adapters():
    command = install(typer.main.get_command(probe_app()))
    args = ["a", "--count", "7", "--port", "80", "--interval", "0.5", "--ratio", "-1.25", "--label", "x",
            "--config", "conf.toml", "--tag", "t"]
    with command.make_context("probe", args) as ctx:
        assert ctx.params["count"] == 7 and ctx.params["interval"] == 0.5
    converted = [p._runtime_param for p in command.params]
    assert all(isinstance(p, DirectRuntimeParam) for p in converted)
    assert all(p._typer is None for p in converted)  # Typer's conversion (and pydantic with it) was never built


def test_a_bad_value_is_refused_with_typers_own_message(cli):
    result = cli("positions", "--interval", "often")
    assert result.exit_code == 2
    assert "'--interval'" in result.stderr and "often" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


#: What reading positions as JSON must not load: Typer's pydantic conversion and Rich (only a table needs them), the
#: signing stacks (the Lighter SDK, eth-account, aiohttp: reads are not signed with them), the journal (sqlite), the
#: telemetry, the notifier, the paper venues, the strategies and every other command module.
NOT_FOR_A_READ = (
    "pydantic", "rich", "typer._adapters", "importlib.metadata",
    "lighter", "eth_account", "aiohttp", "hedgectl.connectors.lighter.signer", "hedgectl.connectors.grvt.signing",
    "sqlite3", "hedgectl.journal", "hedgectl.telemetry", "hedgectl.notify", "hedgectl.sim", "hedgectl.strategies",
    "hedgectl.rehearsal", "hedgectl.execution.flatten", "hedgectl.cli.hedge", "hedgectl.cli.order",
)


def modules_loaded_by(config: Path, cwd: Path, *args: str, watched: tuple[str, ...]) -> tuple[str, set[str]]:
    """Run ``hedgectl --config CONFIG ARGS`` in a fresh interpreter; its stdout and which ``watched`` packages it loaded
    (a package counts when it or any module under it was imported)."""
    probe = (
        "import sys\n"
        "from hedgectl.cli import main\n"
        f"code = main(['--config', {str(config)!r}, *{list(args)!r}])\n"
        f"watched = {watched!r}\n"
        "loaded = sorted(w for w in watched if any(m == w or m.startswith(w + '.') for m in sys.modules))\n"
        "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert completed.returncode == 0, completed.stderr
    marker = [line for line in completed.stderr.splitlines() if line.startswith("LOADED=")]
    assert marker, completed.stderr
    return completed.stdout, {name for name in marker[-1].removeprefix("LOADED=").split(",") if name}


def test_positions_as_json_loads_no_module_a_read_does_not_need(paper_venues, tmp_path):
    config = write_paper_config(paper_venues, tmp_path)
    stdout, loaded = modules_loaded_by(config, tmp_path, "positions", "--all", "--json", watched=NOT_FOR_A_READ)
    assert '"positions"' in stdout
    assert loaded == set()


def test_positions_of_one_connector_loads_no_other_venues_connector(paper_venues, tmp_path):
    config = write_paper_config(paper_venues, tmp_path)
    venues = ("hedgectl.connectors.backpack", "hedgectl.connectors.lighter", "hedgectl.connectors.grvt")
    stdout, loaded = modules_loaded_by(config, tmp_path, "positions", "backpack", "--json", watched=venues)
    assert '"backpack"' in stdout
    assert loaded == {"hedgectl.connectors.backpack"}
