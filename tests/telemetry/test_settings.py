"""Telemetry settings: validation, defaults, hiding the token, and reading the old telemetry.json."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgectl.telemetry.settings import TelemetrySettings, load_old_telemetry_json, settings_from_old_json

SECRET = "tok-9d2e-never-shown"


def test_missing_roles_get_the_old_default_bot_names():
    settings = TelemetrySettings(base_url="http://collector:10123/", bots={"L1": "my-l1"})

    assert settings.bots == {"BP": "triad-bp", "L1": "my-l1", "L2": "triad-l2"}
    assert settings.base_url == "http://collector:10123"
    assert settings.ingest_url("L1") == "http://collector:10123/ingest/my-l1"
    assert settings.interval_secs == 10.0


def test_token_is_hidden_from_repr_and_str():
    settings = TelemetrySettings(base_url="https://c.example", token=SECRET)

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "<hidden>" in repr(settings)
    assert settings.token == SECRET


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": ""}, "base_url"),
        ({"base_url": "collector:10123"}, "base_url"),
        ({"base_url": "ftp://collector"}, "base_url"),
        ({"base_url": "http://collector?x=1"}, "base_url"),
        ({"base_url": "http://user:pw@collector"}, "base_url"),
        ({"token": ""}, "token"),
        ({"token": " padded "}, "token"),
        ({"token": "line\nbreak"}, "token"),
        ({"token": 12345}, "token"),
        ({"group": ""}, "group"),
        ({"bots": {"L3": "x"}}, "bots"),
        ({"bots": {"BP": "has space"}}, "bots.BP"),
        ({"bots": {"L1": "same", "L2": "same"}}, "bots"),
        ({"bots": ["BP"]}, "bots"),
        ({"interval_secs": 0}, "interval_secs"),
        ({"interval_secs": -1}, "interval_secs"),
        ({"interval_secs": float("nan")}, "interval_secs"),
        ({"interval_secs": "5"}, "interval_secs"),
        ({"interval_secs": True}, "interval_secs"),
        ({"interval_secs": 1e9}, "interval_secs"),
    ],
)
def test_invalid_settings_are_refused_with_a_message_naming_the_field(kwargs, field):
    arguments = {"base_url": "http://127.0.0.1:10123", **kwargs}

    with pytest.raises(ValueError, match=f"telemetry {field}") as caught:
        TelemetrySettings(**arguments)

    assert SECRET not in str(caught.value)


def test_invalid_token_message_does_not_echo_the_token():
    with pytest.raises(ValueError) as caught:
        TelemetrySettings(base_url="http://127.0.0.1", token=SECRET + "\n")

    assert SECRET not in str(caught.value)


def test_old_telemetry_json_is_read_with_its_fields(tmp_path):
    path = tmp_path / "telemetry.json"
    path.write_text(
        json.dumps(
            {
                "base_url": "http://10.0.0.5:10123",
                "token": SECRET,
                "group": "g1",
                "bots": {"BP": "bp1", "L1": "l1", "L2": "l2"},
            }
        )
    )

    settings = load_old_telemetry_json(path)

    assert settings.base_url == "http://10.0.0.5:10123"
    assert settings.token == SECRET
    assert settings.group == "g1"
    assert settings.bots == {"BP": "bp1", "L1": "l1", "L2": "l2"}
    assert settings.interval_secs == 10.0


def test_old_json_with_empty_token_and_group_means_none_and_interval_can_be_given():
    settings = settings_from_old_json({"base_url": "http://c", "token": "", "group": "", "bots": None}, interval_secs=3)

    assert settings.token is None
    assert settings.group is None
    assert settings.interval_secs == 3.0


def test_interval_in_the_document_is_used_when_the_caller_gives_none():
    assert settings_from_old_json({"base_url": "http://c", "telemetry_interval_secs": 2.5}).interval_secs == 2.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"token": "x"}', "base_url"),
        ('{"base_url": "http://c", "bots": 3}', "bots"),
    ],
)
def test_broken_old_json_is_refused_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "telemetry.json"
    path.write_text(text)

    with pytest.raises(ValueError, match=message):
        load_old_telemetry_json(path)


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
old_documents = st.fixed_dictionaries(
    {},
    optional={
        "base_url": st.one_of(json_documents, st.sampled_from(["http://127.0.0.1:10123", "https://c.example/x/"])),
        "token": st.one_of(json_documents, st.just(SECRET)),
        "group": json_documents,
        "bots": st.one_of(json_documents, st.dictionaries(st.sampled_from(["BP", "L1", "L2", "L3"]), json_documents)),
        "interval_secs": json_documents,
    },
)


@settings(max_examples=300, deadline=None)
@given(document=st.one_of(json_documents, old_documents))
def test_any_json_document_gives_settings_or_a_value_error_that_hides_the_token(document):
    try:
        loaded = settings_from_old_json(document)
    except ValueError as exc:
        assert SECRET not in str(exc)
    else:
        assert loaded.base_url.startswith(("http://", "https://"))
        assert set(loaded.bots) == {"BP", "L1", "L2"}
        assert SECRET not in repr(loaded)
