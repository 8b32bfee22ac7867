import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, ConfigError, load_settings, masked


def write(tmp_path, text):
    path = tmp_path / "threatline.yaml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_embedded_defaults():
    s = load_settings(DEFAULT_CONFIG)
    assert s.bus.backend == "embedded" and s.store.backend == "embedded"
    assert s.config_path(s.classify.lexicon_dir).is_dir()


def test_env_overrides_file(monkeypatch):
    monkeypatch.setenv("THREATLINE_BUS__BACKEND", "kafka")
    monkeypatch.setenv("THREATLINE_BUS__KAFKA_BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_HOSTS", '["https://es1:9200","https://es2:9200"]')
    s = load_settings(DEFAULT_CONFIG)
    assert s.bus.backend == "kafka" and s.bus.kafka_bootstrap_servers == "broker:9093"
    assert s.store.elasticsearch_hosts == ["https://es1:9200", "https://es2:9200"]
    assert s.store.index_prefix == "threatline"  # untouched keys keep the file's value


def test_unknown_key_names_file_key_and_reason(tmp_path):
    path = write(tmp_path, "bus:\n  backend: embedded\n  bakend: kafka\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert str(exc.value) == f"{path}: bus.bakend: unknown key"


def test_bad_value_names_key_and_value(tmp_path):
    path = write(tmp_path, "bus:\n  backend: kafak\n")
    with pytest.raises(ConfigError, match=r"bus\.backend: Input should be 'embedded' or 'kafka' \(got 'kafak'\)"):
        load_settings(path)


def test_unknown_section_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="busses: unknown key"):
        load_settings(write(tmp_path, "busses: {}\n"))
    with pytest.raises(ConfigError, match=r"threatline\.yaml:\d+: not valid YAML"):
        load_settings(write(tmp_path, "bus:\n  backend: [unclosed\n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.yaml")


def test_bad_env_value_fails_fast(monkeypatch):
    monkeypatch.setenv("THREATLINE_STAGES__BATCH_SIZE", "-3")
    with pytest.raises(ConfigError, match=r"stages\.batch_size: Input should be greater than or equal to 1"):
        load_settings(DEFAULT_CONFIG)


def test_secrets_are_masked(monkeypatch):
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("THREATLINE_ALERTS__ACK_SECRET", "ack-secret-of-forty-bytes-0123456789abcd")
    monkeypatch.setenv("THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS", '["old-ack-secret-of-forty-bytes-012345678"]')
    shown = masked(load_settings(DEFAULT_CONFIG))
    text = json.dumps(shown)
    assert "hunter2" not in text and "forty-bytes" not in text
    assert shown["store"]["elasticsearch_password"] == "********"
    assert shown["alerts"]["ack_secret"] == "********"
    assert shown["alerts"]["ack_previous_secrets"] == ["********"]


def test_config_show_cli_masks_and_reports_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("THREATLINE_BUS__KAFKA_PASSWORD", "s3cr3t")
    result = CliRunner().invoke(app, ["config", "show", "--json", "--config", str(DEFAULT_CONFIG)])
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output
    assert json.loads(result.output)["bus"]["kafka_password"] == "********"
