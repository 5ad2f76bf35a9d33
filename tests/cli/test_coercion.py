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


def test_positions_as_json_loads_neither_pydantic_nor_rich(paper_venues, tmp_path):
    config = write_paper_config(paper_venues, tmp_path)
    probe = (
        "import sys\n"
        "from hedgectl.cli import main\n"
        f"code = main(['--config', {str(config)!r}, 'positions', '--all', '--json'])\n"
        "heavy = sorted(m for m in ('pydantic', 'rich', 'typer._adapters') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert '"positions"' in completed.stdout
    assert "HEAVY=\n" in completed.stderr, completed.stderr
