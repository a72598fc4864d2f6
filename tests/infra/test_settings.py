"""Settings parsing: defaults, every variable, overrides, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilten.infra.bootstrap import stream_limits
from bilten.infra.settings import Settings, SettingsError, load_settings, settings_env


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.data_dir == Path(".bilten")
    assert settings.log_format == "text"
    assert settings.nats_url is None and settings.database_url is None


def test_every_documented_variable_is_read() -> None:
    env = {
        "BILTEN_NATS_URL": "nats://10.0.0.1:4222",
        "BILTEN_DATABASE_URL": "postgresql://u@db:5432/bilten",
        "BILTEN_REDIS_URL": "redis://cache:6379/1",
        "BILTEN_SECRET": "s" * 32,
        "BILTEN_HOST": "0.0.0.0",
        "BILTEN_PORT": "9000",
        "BILTEN_DATA_DIR": "/var/lib/bilten",
        "BILTEN_LOG_FORMAT": "JSON",
        "BILTEN_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
    }
    settings = load_settings(env)
    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.database_url == "postgresql://u@db:5432/bilten"
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.secret == "s" * 32
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.data_dir == Path("/var/lib/bilten")
    assert settings.log_format == "json"
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


def test_stream_replicas_reach_the_stream_limits() -> None:
    """A three-server cluster keeps three copies only when every declarer asks for them:
    each hub and worker declares the streams at start and updates a differing one."""
    assert stream_limits(load_settings({})).replicas == 1
    assert stream_limits(load_settings({"BILTEN_STREAM_REPLICAS": "3"})).replicas == 3


def test_nats_url_may_name_every_server_of_a_cluster() -> None:
    urls = "nats://127.0.0.1:4222,nats://127.0.0.1:4223,tls://127.0.0.1:4224"
    assert load_settings({"BILTEN_NATS_URL": urls}).nats_url == urls


def test_flags_override_environment() -> None:
    settings = load_settings(
        {"BILTEN_PORT": "9000", "BILTEN_HOST": "0.0.0.0"}, port="7000", host=None
    )
    assert settings.port == 7000
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BILTEN_PORT", "eighty", "integer"),
        ("BILTEN_PORT", "70000", "between"),
        ("BILTEN_NATS_URL", "http://localhost:4222", "nats"),
        ("BILTEN_NATS_URL", "nats://a:4222,http://b:4222", "nats"),
        ("BILTEN_DATABASE_URL", "mysql://x/y", "postgres"),
        ("BILTEN_REDIS_URL", "localhost:6379", "redis"),
        ("BILTEN_LOG_FORMAT", "xml", "text, json"),
        ("BILTEN_SECRET", "short", "32"),
        ("BILTEN_NAMESPACE", "Has-Caps", "lowercase"),
        ("BILTEN_ALLOWED_ORIGINS", "ftp://x", "origin"),
        ("BILTEN_HISTORY_SIZE", "0", "between"),
        ("BILTEN_PING_INTERVAL", "soon", "number"),
        ("BILTEN_STREAM_REPLICAS", "7", "between"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable
    assert variable in str(caught.value)
    assert problem in str(caught.value)
    assert caught.value.code == "bad_config"


def test_choices_from_flags_are_case_insensitive_like_the_environment() -> None:
    settings = load_settings({"BILTEN_LOG_FORMAT": "JSON"}, log_level="warning")
    assert (settings.log_format, settings.log_level) == ("json", "WARNING")
    assert load_settings({}, log_level="WARNING").log_level == "WARNING"


def test_bad_flag_is_reported_naming_the_flag() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({}, port="-1", data_dir="x")
    assert caught.value.variable == "--port"
    assert str(caught.value).startswith("--port: must be between 0 and 65535")


def test_settings_env_round_trips() -> None:
    settings = load_settings(
        {
            "BILTEN_NATS_URL": "nats://h:1",
            "BILTEN_SECRET": "x" * 32,
            "BILTEN_ALLOWED_ORIGINS": "https://a.example",
        },
        port="1234",
    )
    assert load_settings(settings_env(settings)) == settings


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
