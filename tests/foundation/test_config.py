"""Config loading: lookup order, secrets, and a clear message per problem with exit code 2 for bad input."""

import os
import stat
import string

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedgectl.config.loader import find_config_path, load_config, parse_config
from hedgectl.config.starter import starter_document
from hedgectl.errors import ConfigError

SECRETS = {
    "HEDGECTL_BACKPACK_API_KEY": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
    "HEDGECTL_BACKPACK_API_SECRET": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "HEDGECTL_LIGHTER1_PRIVATE_KEY": "0x" + "ab" * 40,
    "HEDGECTL_LIGHTER2_PRIVATE_KEY": "0x" + "cd" * 40,
}


def write(tmp_path, document, name="hedgectl.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(document) if isinstance(document, dict) else document)
    return path


def test_starter_config_checks_clean_once_secrets_are_in_the_environment(cli, tmp_path, monkeypatch):
    target = tmp_path / "x.toml"
    assert cli("config", "init", str(target)).exit_code == 0
    before = cli("--config", str(target), "config", "check")
    assert before.exit_code == 2
    for variable in SECRETS:
        assert variable in before.stderr
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    after = cli("--config", str(target), "config", "check")
    assert after.exit_code == 0, after.output
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_secrets_are_read_from_the_dotenv_beside_the_config(cli, tmp_path):
    target = tmp_path / "conf" / "x.toml"
    assert cli("config", "init", str(target)).exit_code == 0
    lines = [f"{k}='{v}'" for k, v in SECRETS.items()]
    (target.parent / ".env").write_text("\n".join(lines))
    os.chmod(target.parent / ".env", 0o600)
    assert cli("--config", str(target), "config", "check").exit_code == 0


def test_config_show_never_prints_a_secret(cli, tmp_path, monkeypatch):
    target = tmp_path / "x.toml"
    cli("config", "init", str(target))
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    for args in (("config", "show"), ("config", "show", "--json")):
        result = cli("--config", str(target), *args)
        assert result.exit_code == 0
        assert "HEDGECTL_BACKPACK_API_SECRET" in result.stdout  # where it came from is shown
        for secret in (SECRETS["HEDGECTL_BACKPACK_API_SECRET"], SECRETS["HEDGECTL_LIGHTER1_PRIVATE_KEY"][2:]):
            assert secret not in result.output


def test_lookup_order_prefers_flag_then_env_then_working_directory(tmp_path, monkeypatch):
    local = tmp_path / "hedgectl.toml"
    local.write_text("")
    monkeypatch.chdir(tmp_path)
    assert find_config_path(None, env={}) == local
    assert find_config_path(None, env={"HEDGECTL_CONFIG": "/e.toml"}).as_posix() == "/e.toml"
    assert find_config_path(tmp_path / "f.toml", env={"HEDGECTL_CONFIG": "/e.toml"}) == tmp_path / "f.toml"


def test_user_config_dir_is_the_last_resort(isolated_home):
    user = isolated_home / ".config" / "hedgectl" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config_path(None, env={}) == user


def test_missing_config_file_says_where_it_looked(cli):
    result = cli("connectors", "list")
    assert result.exit_code == 2
    assert "no config file found" in result.stderr
    assert "Traceback" not in result.output


BAD_INPUTS = [
    ("[hedge\nleverage = 3", "invalid TOML"),
    ({"hedge": {"leverage": "lots"}}, "hedge.leverage"),
    ({"connectors": {"x": {"venue": "binance"}}}, "connectors.x.venue"),
    ({"hedge": {"wait_mn_secs": 3}}, "did you mean 'wait_min_secs'"),
    ({"hedge": {"wait_min_secs": 10, "wait_max_secs": 5}}, "hedge.wait_min_secs"),
    ({"connectors": {"backpack": {"venue": "backpack", "base_url": "ftp://x"}}}, "connectors.backpack.base_url"),
    ({"connectors": {"l": {"venue": "lighter", "api_key_index": 3}}}, "connectors.l.account_index"),
    ({"connectors": {"b": {"venue": "backpack", "window_ms": 70000}}}, "connectors.b.window_ms"),
    ({"connectors": "none"}, "connectors: expected a table"),
    ({"hedge": {"direction": "sideways"}}, "hedge.direction"),
    ({"hedge": {"slippage": {"backpack": 2}}}, "hedge.slippage.backpack"),
    ({"telemetry": {"enabled": True}}, "telemetry.base_url"),
    ({"bogus": {}}, "bogus: unknown key"),
    ({"connectors": {"b": {"venue": "backpack", "key_file": "missing.keys"}}}, "cannot read key file"),
]


@pytest.mark.parametrize(("document", "needle"), BAD_INPUTS)
def test_each_bad_input_gives_a_one_line_message_and_exit_2(cli, tmp_path, document, needle):
    path = write(tmp_path, document)
    result = cli("--config", str(path), "config", "check")
    assert result.exit_code == 2
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert all(line.startswith("error: ") for line in result.stderr.strip().splitlines() if line.strip())


def test_every_problem_is_reported_at_once(tmp_path):
    document = {"hedge": {"leverage": "x", "direction": "up", "wait_min_secs": -1}, "extra": 1}
    result = parse_config(document, path=tmp_path / "c.toml", env={})
    keys = " ".join(result.problems)
    for needle in ("hedge.leverage", "hedge.direction", "hedge.wait_min_secs", "extra"):
        assert needle in keys


def test_roles_must_name_configured_connectors_with_distinct_accounts(tmp_path):
    document = starter_document()
    document["connectors"]["lighter2"]["account_index"] = document["connectors"]["lighter1"]["account_index"]
    document["hedge"]["roles"]["BP"] = "nope"
    problems = " ".join(parse_config(document, path=tmp_path / "c.toml", env={}).problems)
    assert "hedge.roles.BP: names connector 'nope'" in problems
    assert "hedge.roles.L2: uses the same account as role L1" in problems


def test_key_files_in_the_old_formats_supply_secrets(tmp_path, caplog):
    backpack = tmp_path / "bp.keys"
    backpack.write_text(f"API Key: {SECRETS['HEDGECTL_BACKPACK_API_KEY']}\nAPI Secret: {SECRETS['HEDGECTL_BACKPACK_API_SECRET']}\n")
    lighter = tmp_path / "l1.keys"
    lighter.write_text("api key index: 5\nprivate key: 0x" + "ef" * 40 + "\n")
    os.chmod(backpack, 0o600)
    os.chmod(lighter, 0o644)
    document = {
        "connectors": {
            "bp": {"venue": "backpack", "key_file": "bp.keys"},
            "l1": {"venue": "lighter", "account_index": 9, "key_file": "l1.keys"},
        }
    }
    with caplog.at_level("WARNING"):
        result = parse_config(document, path=tmp_path / "c.toml", env={})
    assert not result.problems and not result.missing_secrets
    l1 = result.config.connectors["l1"]
    assert l1.options["api_key_index"] == 5
    assert l1.secrets["private_key"].reveal() == "0x" + "ef" * 40
    warnings = [r.getMessage() for r in caplog.records]
    assert any("l1.keys" in w and "chmod 600" in w for w in warnings)
    assert not any("bp.keys" in w for w in warnings)
    assert "ef" * 40 not in repr(result.config)


def test_load_config_raises_with_all_missing_secrets_when_required(tmp_path):
    path = write(tmp_path, starter_document())
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, require_secrets=True)
    assert len(caught.value.problems) == 4


keys = st.sampled_from(
    ["general", "connectors", "hedge", "telemetry", "telegram", "min_order", "venue", "base_url", "leverage",
     "wait_min_secs", "roles", "symbols", "size", "bots", "enabled", "account_index", "api_key_index", "key_file",
     "lighter1", "backpack", "BP", "L1", "direction", "slippage"]
) | st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=8)
scalars = (
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["backpack", "lighter", "http://127.0.0.1:1", "long", "short"])
)
documents = st.dictionaries(
    keys, st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
                       max_leaves=12),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_random_toml_documents_never_produce_a_traceback(cli, tmp_path, document):
    path = write(tmp_path, document)
    result = cli("--config", str(path), "config", "check")
    assert result.exit_code in (0, 2)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_text_as_config_never_produces_a_traceback(cli, tmp_path, text):
    path = write(tmp_path, text)
    result = cli("--config", str(path), "config", "check")
    assert result.exit_code in (0, 2)
    assert "internal error" not in result.output
