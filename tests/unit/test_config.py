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
    with pytest.raises(ConfigError, match=r"^environment variable THREATLINE_STAGES__BATCH_SIZE \(stages\.batch_size\): Input should be greater than or equal to 1"):
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


def test_passwords_inside_urls_are_masked_in_config_show(monkeypatch):
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_HOSTS",
                       '["https://elastic:s3cret-es@es1:9200", "https://es2:9200", "http://ops:p@ss@es3:9200/x"]')
    monkeypatch.setenv("THREATLINE_KIBANA__URL", "https://kib:s3cret-kb@kibana.example:5601/app")
    monkeypatch.setenv("THREATLINE_PREFECT__API_URL", "http://u:s3cret-pf@prefect:4200/api")
    shown = masked(load_settings(DEFAULT_CONFIG))
    assert shown["store"]["elasticsearch_hosts"] == [
        "https://elastic:***@es1:9200", "https://es2:9200", "http://ops:***@es3:9200/x"]
    assert shown["kibana"]["url"] == "https://kib:***@kibana.example:5601/app"
    assert shown["prefect"]["api_url"] == "http://u:***@prefect:4200/api"
    for flag in (["--json"], []):
        result = CliRunner().invoke(app, ["config", "show", *flag, "--config", str(DEFAULT_CONFIG)])
        assert result.exit_code == 0, result.output
        assert "s3cret" not in result.output and "p@ss" not in result.output
        assert "https://elastic:***@es1:9200" in result.output


@pytest.mark.parametrize("yaml_text", [
    "alerts:\n  ack_secret: 12345678901234567890123456789012345\n",
    "alerts:\n  ack_previous_secrets: [12345678901234567890123456789012345]\n",
    "store:\n  elasticsearch_password: 12345678901234567890123456789012345\n",
    "kibana:\n  api_key: {nested: 12345678901234567890123456789012345}\n",
    "review:\n  session_secret: [12345678901234567890123456789012345]\n",
])
def test_a_config_error_never_echoes_a_secret_value(tmp_path, yaml_text):
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    message = str(exc.value)
    assert "1234567890" not in message, message
    assert message.startswith(f"{path}: ") and ("secret" in message or "password" in message or "api_key" in message)


def test_a_config_error_masks_a_password_in_an_echoed_url(tmp_path):
    path = write(tmp_path, "store:\n  elasticsearch_hosts: https://elastic:s3cret@es:9200\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "s3cret" not in str(exc.value) and "store.elasticsearch_hosts" in str(exc.value)


def test_a_non_json_env_var_for_a_list_is_one_config_error_line(monkeypatch):
    monkeypatch.setenv("THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS", "notjson-s3cret")
    with pytest.raises(ConfigError) as exc:
        load_settings(DEFAULT_CONFIG)
    assert "THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS" in str(exc.value) and "JSON" in str(exc.value)
    assert "notjson" not in str(exc.value)
    monkeypatch.setenv("THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS", '["old-ack-secret-of-forty-bytes-012345678"]')
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_HOSTS", "https://es:9200")  # a list, not JSON either
    with pytest.raises(ConfigError, match="THREATLINE_STORE__ELASTICSEARCH_HOSTS: not valid JSON"):
        load_settings(DEFAULT_CONFIG)


def test_the_cli_turns_a_non_json_env_var_into_one_line_exit_2(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS": "notjson"}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "config", "show",
                           "--config", str(DEFAULT_CONFIG)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("config error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "THREATLINE_ALERTS__ACK_PREVIOUS_SECRETS" in proc.stderr and "notjson" not in proc.stderr


def test_an_unknown_key_in_the_environment_is_blamed_on_the_variable(monkeypatch):
    monkeypatch.setenv("THREATLINE_STORE__SHARDS", "3")
    with pytest.raises(ConfigError) as exc:
        load_settings(DEFAULT_CONFIG)
    assert str(exc.value) == "environment variable THREATLINE_STORE__SHARDS (store.shards): unknown key"
    assert str(DEFAULT_CONFIG) not in str(exc.value)
