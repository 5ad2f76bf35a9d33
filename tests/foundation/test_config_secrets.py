"""``config check`` finds malformed and mismatched secrets offline, and never prints one; ``config show`` masks the
Telegram chat id."""

from __future__ import annotations

import base64
import os

import pytest
import tomli_w

from hedgectl.config.starter import starter_document

SEED = bytes(range(32))
PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="  # the Ed25519 public key of SEED
GOOD = {
    "HEDGECTL_BACKPACK_API_KEY": PUBLIC,
    "HEDGECTL_BACKPACK_API_SECRET": base64.b64encode(SEED).decode(),
    "HEDGECTL_LIGHTER1_PRIVATE_KEY": "0x" + "ab" * 40,
    "HEDGECTL_LIGHTER2_PRIVATE_KEY": "cd" * 40,
    "HEDGECTL_GRVT_API_KEY": "Zq3_-kP9xY2mN8vB4cR7tW1e",
    "HEDGECTL_GRVT_PRIVATE_KEY": "0x" + "1f" * 32,
    "HEDGECTL_TELEGRAM_BOT_TOKEN": "1234567890:" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456-_",
    "HEDGECTL_TELEGRAM_CHAT_ID": "-1001234567890",
}


def document(**lighter1):
    doc = starter_document()
    doc["connectors"]["grvt"] = {"venue": "grvt", "sub_account_id": 7}
    doc["telegram"]["enabled"] = True
    doc["connectors"]["lighter1"].update(lighter1)
    return doc


@pytest.fixture
def checked(cli, tmp_path, monkeypatch):
    """``config check`` of a config with every secret valid except the ones given (variable -> value)."""

    def run(overrides=None, doc=None, *args):
        path = tmp_path / "hedgectl.toml"
        path.write_text(tomli_w.dumps(doc or document()))
        for variable, value in {**GOOD, **(overrides or {})}.items():
            monkeypatch.setenv(variable, value)
        return cli("--config", str(path), "config", "check", *args)

    return run


def test_a_config_whose_secrets_all_have_their_form_checks_ok(checked):
    result = checked()
    assert result.exit_code == 0, result.output


BAD_SECRETS = [
    ("HEDGECTL_BACKPACK_API_SECRET", "not*base64*at*all!!", "connectors.backpack.api_secret", "not base64"),
    ("HEDGECTL_BACKPACK_API_SECRET", base64.b64encode(b"sixteen-byte-key").decode(), "api_secret",
     "16 bytes, not a 32-byte Ed25519 seed"),
    ("HEDGECTL_BACKPACK_API_SECRET", base64.b64encode(bytes(range(1, 33))).decode(), "api_secret",
     "does not belong to api_key"),
    ("HEDGECTL_BACKPACK_API_KEY", base64.b64encode(b"short").decode(), "connectors.backpack.api_key",
     "32-byte Ed25519 public key"),
    ("HEDGECTL_LIGHTER1_PRIVATE_KEY", "0x" + "zq" * 40, "connectors.lighter1.private_key", "is not hex"),
    ("HEDGECTL_LIGHTER2_PRIVATE_KEY", "ab" * 32, "connectors.lighter2.private_key", "64 hex digits, not 80"),
    ("HEDGECTL_GRVT_API_KEY", "has spaces in it, 30 chars ok", "connectors.grvt.api_key", "not a GRVT API key"),
    ("HEDGECTL_GRVT_PRIVATE_KEY", "0x" + "ab" * 20, "connectors.grvt.private_key", "40 hex digits, not 64"),
    ("HEDGECTL_GRVT_PRIVATE_KEY", "0x" + "ff" * 32, "connectors.grvt.private_key", "not a valid secp256k1"),
    ("HEDGECTL_GRVT_PRIVATE_KEY", "no-hex-here-" * 4, "connectors.grvt.private_key", "is not hex"),
    ("HEDGECTL_TELEGRAM_BOT_TOKEN", "1234567890:tooShortForATelegramToken", "telegram.bot_token",
     "is not a bot token"),
    ("HEDGECTL_TELEGRAM_BOT_TOKEN", "botname:" + "A" * 35, "telegram.bot_token", "is not a bot token"),
    ("HEDGECTL_TELEGRAM_CHAT_ID", "my private chat", "telegram.chat_id", "is not a chat id"),
]


@pytest.mark.parametrize(("variable", "value", "key", "needle"), BAD_SECRETS,
                         ids=[f"{case[0]}-{case[3]}" for case in BAD_SECRETS])
def test_each_malformed_or_mismatched_secret_is_named_without_printing_it(checked, variable, value, key, needle):
    result = checked({variable: value})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0] and needle in lines[0]
    if variable != "HEDGECTL_TELEGRAM_CHAT_ID":
        assert f"${variable}" in lines[0]  # where it came from, so the operator knows which one to fix
    assert value not in result.output
    for part in (value[:12], value[-12:]):
        assert part not in result.output


def test_a_lighter_api_key_index_from_a_key_file_is_checked_against_the_range(checked, tmp_path):
    doc = document()
    del doc["connectors"]["lighter1"]["api_key_index"]
    key_file = tmp_path / "lighter1.keys"
    key_file.write_text("api key index: 255\nprivate key: " + "ef" * 40 + "\n")
    os.chmod(key_file, 0o600)
    doc["connectors"]["lighter1"]["key_file"] = str(key_file)
    result = checked({"HEDGECTL_LIGHTER1_PRIVATE_KEY": ""}, doc)
    assert result.exit_code == 2
    assert "connectors.lighter1.api_key_index" in result.stderr and "out of range (0..254)" in result.stderr
    assert "ef" * 40 not in result.output


def test_an_api_key_index_in_the_table_out_of_range_is_refused(checked):
    result = checked(None, document(api_key_index=255))
    assert result.exit_code == 2
    assert "connectors.lighter1.api_key_index" in result.stderr


def test_every_bad_secret_is_reported_at_once_in_json(checked):
    import json

    result = checked({"HEDGECTL_LIGHTER1_PRIVATE_KEY": "nothex", "HEDGECTL_TELEGRAM_CHAT_ID": "x y"}, None, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [p.split(" ")[0] for p in report["problems"]] == ["connectors.lighter1.private_key", "telegram.chat_id"]


def test_config_show_masks_the_telegram_chat_id(cli, tmp_path, monkeypatch):
    path = tmp_path / "hedgectl.toml"
    path.write_text(tomli_w.dumps(document()))
    for variable, value in GOOD.items():
        monkeypatch.setenv(variable, value)
    chat_id = GOOD["HEDGECTL_TELEGRAM_CHAT_ID"]
    for args in (("config", "show"), ("config", "show", "--json")):
        result = cli("--config", str(path), *args)
        assert result.exit_code == 0, result.output
        assert "chat_id" in result.stdout
        assert chat_id not in result.output and chat_id.lstrip("-") not in result.output
