"""``--quiet`` keeps warnings and errors and nothing else, in every command, in a real process."""

from __future__ import annotations

import re

LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ", re.MULTILINE)


def levels(stderr: str) -> set[str]:
    return set(LOG_LINE.findall(stderr))


def test_hedge_run_logs_info_without_quiet(cli_subprocess):
    result = cli_subprocess("hedge", "run", "--paper", "--direction", "long", "--wait-min", "0", "--wait-max", "0.1",
                            "--timeout", "0.5")

    assert result.exit_code == 0, result.stderr[-2000:]
    assert "INFO" in levels(result.stderr)


def test_quiet_hedge_run_prints_nothing_on_success(cli_subprocess):
    result = cli_subprocess("--quiet", "hedge", "run", "--paper", "--direction", "long", "--wait-min", "0",
                            "--wait-max", "0.1", "--timeout", "0.5")

    assert result.exit_code == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout == ""


def test_quiet_keeps_warnings_and_drops_info(desk, cli_subprocess):
    dotenv = desk.config_path.with_name(".env")
    dotenv.chmod(0o644)  # a secrets file others can read: hedgectl warns about it
    config = ("--config", str(desk.config_path))

    order = ("order", "market", "backpack", "--side", "buy", "--size", "0.01", "--yes")

    loud = cli_subprocess(*config, *order)
    quiet = cli_subprocess(*config, "--quiet", *order)

    assert loud.exit_code == quiet.exit_code == 0, quiet.stderr
    assert {"INFO", "WARNING"} <= levels(loud.stderr)
    assert levels(quiet.stderr) == {"WARNING"}
    assert "readable by group or others" in quiet.stderr
    assert quiet.stdout == ""
