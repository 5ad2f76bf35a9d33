"""The command line shell: help, version, lazy imports, exit codes."""

import json
import sys

from hedgectl import __version__


def test_help_lists_the_command_groups(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for group in ("config", "connectors"):
        assert group in result.stdout


def test_version_prints_the_package_version(cli_subprocess):
    result = cli_subprocess("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"hedgectl {__version__}"


def test_help_imports_neither_the_lighter_sdk_nor_eth_account_nor_aiohttp(tmp_path):
    import subprocess

    probe = (
        "import sys\n"
        "from hedgectl.cli import main\n"
        "code = main(['--help'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('lighter', 'eth_account', 'aiohttp'))\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "HEAVY=\n" in completed.stdout, completed.stdout


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_debug_flag_accepts_the_old_environment_variable(cli_subprocess, tmp_path):
    result = cli_subprocess("config", "check", env={"XTB_DEBUG": "1", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_connectors_list_shows_names_venues_and_roles_as_json(cli, tmp_path):
    target = tmp_path / "x.toml"
    cli("config", "init", str(target))
    result = cli("--config", str(target), "connectors", "list", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)["connectors"]}
    assert rows["backpack"]["venue"] == "backpack" and rows["backpack"]["role"] == "BP"
    assert rows["lighter2"]["venue"] == "lighter" and rows["lighter2"]["role"] == "L2"
    assert rows["lighter1"]["secrets_ok"] is False
