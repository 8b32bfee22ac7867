"""The `tipline:` config section: documented in the shipped YAML, every key set by environment,
bad values refused, and the app reading it."""

from __future__ import annotations

import pytest
import yaml
from tipline_server import serving

from pipeline.config import DEFAULT_CONFIG, ConfigError, TiplineConfig, load_settings

NON_DEFAULT = {"host": "0.0.0.0", "port": "9090", "threads_file": "other.sqlite3", "max_body_bytes": "200000",
               "submit_limit": "3", "lookup_limit": "4", "window_s": "60", "retention_days": "30",
               "trusted_proxies": '["10.0.0.0/8", "fd00::1"]', "languages": '["en"]',
               "attachment_max_bytes": "1048576", "attachment_max_pixels": "2000000"}


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("THREATLINE_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_every_key_is_documented_in_the_shipped_yaml_with_its_default(clean_env):
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())["tipline"]
    assert set(shipped) == set(TiplineConfig.model_fields) == set(NON_DEFAULT)
    assert load_settings(DEFAULT_CONFIG).tipline == TiplineConfig()
    assert (TiplineConfig().host, TiplineConfig().port, TiplineConfig().retention_days) == ("127.0.0.1", 8080, 90)


def test_every_key_is_overridable_by_environment(clean_env):
    for key, value in NON_DEFAULT.items():
        clean_env.setenv(f"THREATLINE_TIPLINE__{key.upper()}", value)
    t = load_settings(DEFAULT_CONFIG).tipline
    assert (t.host, t.port, t.threads_file, t.max_body_bytes) == ("0.0.0.0", 9090, "other.sqlite3", 200_000)
    assert (t.submit_limit, t.lookup_limit, t.window_s, t.retention_days) == (3, 4, 60.0, 30)
    assert t.trusted_proxies == ["10.0.0.0/8", "fd00::1"]
    assert (t.languages, t.attachment_max_bytes, t.attachment_max_pixels) == (["en"], 1_048_576, 2_000_000)


@pytest.mark.parametrize("key,value,reason", [
    ("window_s", "3600", "less than or equal to 900"),          # the limiter must forget within minutes
    ("max_body_bytes", "65536", "greater than or equal to 81920"),  # would refuse the longest real tips
    ("trusted_proxies", '["proxy.internal"]', "does not appear to be an IPv4 or IPv6 network"),
    ("port", "0", "greater than or equal to 1"),
    ("retention_days", "0", "greater than or equal to 1"),
    ("languages", '["es"]', "must include 'en'"),            # English is every page's fallback
    ("languages", '["en", "Spanish"]', "is not a language code"),
    ("languages", '["en", "es", "es"]', "twice"),
    ("attachment_max_bytes", str(64 * 1024 * 1024), "less than or equal to 20971520"),
    ("attachment_max_pixels", str(10**9), "less than or equal to 100000000"),  # a decompression bomb's worth
])
def test_bad_values_fail_loudly(clean_env, key, value, reason):
    clean_env.setenv(f"THREATLINE_TIPLINE__{key.upper()}", value)
    with pytest.raises(ConfigError, match=rf"THREATLINE_TIPLINE__{key.upper()} \(tipline\.{key}\): .*{reason}"):
        load_settings(DEFAULT_CONFIG)


def test_the_app_uses_the_configured_thread_file_and_limits(rt, tmp_path):
    with serving(rt, tmp_path, configured_threads=True, threads_file="custom.sqlite3", submit_limit=1) as t:
        assert [t.http.post("/api/tips", json={"message": "hi"}).status_code for _ in range(2)] == [201, 429]
        assert t.threads.path == rt.settings.data_dir / "custom.sqlite3" and t.threads.count() == 1
