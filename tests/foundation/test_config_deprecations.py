"""Keys hedgectl no longer reads still load in old configs, with a note saying so; new configs do not carry them."""

from __future__ import annotations

import logging

from hedgectl.config.loader import load_config
from hedgectl.config.starter import starter_document


def test_an_old_config_with_general_debug_loads_with_a_deprecation_note(tmp_path, caplog):
    path = tmp_path / "hedgectl.toml"
    path.write_text('[general]\ndebug = true\ndata_dir = "data"\n')
    with caplog.at_level(logging.WARNING, logger="hedgectl.config.loader"):
        config = load_config(path)
    assert config.general.data_dir == tmp_path / "data"
    assert any("general.debug is no longer read" in record.getMessage() for record in caplog.records)


def test_a_config_without_general_debug_loads_without_a_note(tmp_path, caplog):
    path = tmp_path / "hedgectl.toml"
    path.write_text('[general]\ndata_dir = "data"\n')
    with caplog.at_level(logging.WARNING, logger="hedgectl.config.loader"):
        load_config(path)
    assert not any("general.debug" in record.getMessage() for record in caplog.records)


def test_the_starter_config_no_longer_writes_general_debug():
    assert "debug" not in starter_document()["general"]


def test_config_init_writes_no_debug_key_and_config_check_accepts_an_old_one(cli, tmp_path):
    target = tmp_path / "new.toml"
    assert cli("config", "init", str(target)).exit_code == 0
    assert "debug" not in target.read_text()
    old = tmp_path / "old.toml"
    old.write_text(target.read_text().replace("[general]\n", "[general]\ndebug = false\n", 1))
    result = cli("--config", str(old), "config", "show")
    assert result.exit_code == 0, result.output
    assert "general.debug is no longer read" in result.stderr
