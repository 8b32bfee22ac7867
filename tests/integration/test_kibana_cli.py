"""`threatline kibana import | export` against a fake Kibana on 127.0.0.1 (tests/fake_kibana.py).

The fake answers like Kibana's saved-objects API and records every request, so these tests check
both what the client sends (method, path, kbn-xsrf, credentials, multipart `file`, overwrite=true,
space prefix) and how it reports what Kibana answers (partial failures, 401, no Kibana at all).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fake_kibana import fake_kibana
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.kibana import TYPES, KibanaError, dump_ndjson, export_objects, import_objects, load_objects

REPO = Path(__file__).resolve().parents[2]
OBJECTS_FILE = DEFAULT_CONFIG.parent / "kibana" / "threatline.ndjson"
SHIPPED = load_objects(OBJECTS_FILE)
USER, PASSWORD = "sro-admin", "correct-horse-kibana"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def env(monkeypatch):
    """Only the variables a test sets: Kibana credentials from the environment, as in production."""
    for key in list(os.environ):
        if key.startswith("THREATLINE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("THREATLINE_KIBANA__USERNAME", USER)
    monkeypatch.setenv("THREATLINE_KIBANA__PASSWORD", PASSWORD)
    monkeypatch.setenv("THREATLINE_KIBANA__TIMEOUT_S", "5")
    return monkeypatch


@pytest.fixture
def kibana():
    with fake_kibana(authorization=BASIC, spaces={"default", "district7"}) as server:
        yield server


def settings():
    return load_settings(DEFAULT_CONFIG)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stored(kibana, space="default"):
    return {k: {key: v for key, v in o.items() if key not in ("updated_at", "version")}
            for k, o in kibana.objects(space).items()}


# --- import -------------------------------------------------------------------------------------


def test_import_posts_the_file_the_way_kibana_expects(env, kibana):
    result = import_objects(settings(), url=kibana.url)
    (request,) = kibana.requests
    assert (request.method, request.path, request.query) == ("POST", "/api/saved_objects/_import", {"overwrite": ["true"]})
    assert request.headers["kbn-xsrf"] == "true"
    assert request.headers["authorization"] == BASIC
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    filename, content = request.form["file"]
    assert filename.endswith(".ndjson")
    assert sorted(json.loads(line)["id"] for line in content.decode().splitlines()) == sorted(o["id"] for o in SHIPPED)
    assert result.count == len(SHIPPED) == len(kibana.objects())
    assert stored(kibana) == {(o["type"], o["id"]): o for o in SHIPPED}


def test_importing_again_overwrites_what_kibana_has(env, kibana):
    import_objects(settings(), url=kibana.url)
    assert import_objects(settings(), url=kibana.url).count == len(SHIPPED)
    # Without overwrite=true the same file would conflict: the flag is what makes re-import work.
    plain = httpx.post(f"{kibana.url}/api/saved_objects/_import", headers={"kbn-xsrf": "true", "Authorization": BASIC},
                       files={"file": ("t.ndjson", OBJECTS_FILE.read_bytes(), "application/ndjson")})
    assert {e["error"]["type"] for e in plain.json()["errors"]} == {"conflict"}


def test_api_key_is_sent_instead_of_the_password(env, kibana):
    env.setenv("THREATLINE_KIBANA__API_KEY", "a2V5OnNlY3JldA==")
    kibana.authorization = "ApiKey a2V5OnNlY3JldA=="
    import_objects(settings(), url=kibana.url)
    assert kibana.requests[0].headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="


def test_a_space_puts_the_objects_under_s_space(env, kibana):
    env.setenv("THREATLINE_KIBANA__SPACE", "district7")
    result = import_objects(settings(), url=kibana.url)
    assert kibana.requests[0].path == "/s/district7/api/saved_objects/_import"
    assert len(kibana.objects("district7")) == len(SHIPPED) and kibana.objects("default") == {}
    assert "space district7" in result.where
    env.setenv("THREATLINE_KIBANA__SPACE", "nowhere")
    with pytest.raises(KibanaError, match=r"/s/nowhere/api/saved_objects/_import not found \(404\).*space"):
        import_objects(settings(), url=kibana.url)


def test_import_moves_data_views_to_the_configured_index_prefix(env, kibana):
    env.setenv("THREATLINE_STORE__INDEX_PREFIX", "district7")
    import_objects(settings(), url=kibana.url)
    objects = stored(kibana)
    assert objects[("index-pattern", "threatline-flagged")]["attributes"]["title"] == "district7-flagged*"
    assert objects[("index-pattern", "threatline-alerts")]["attributes"]["title"] == "district7-alerts*"
    assert objects[("index-pattern", "threatline-audit")]["attributes"]["title"] == "district7-audit*"
    others = {(o["type"], o["id"]): o for o in SHIPPED if o["type"] != "index-pattern"}
    assert {k: v for k, v in objects.items() if k[0] != "index-pattern"} == others


def test_url_comes_from_config_when_not_given(env, kibana):
    env.setenv("THREATLINE_KIBANA__URL", kibana.url + "/")
    assert import_objects(settings()).count == len(SHIPPED)


def test_partial_failure_names_each_failing_object(env, kibana):
    kibana.fail_objects[("lens", "threatline-flags-by-school")] = "unknown"
    with pytest.raises(KibanaError) as exc:
        import_objects(settings(), url=kibana.url)
    message = str(exc.value)
    assert f"1 of {len(SHIPPED)} objects failed" in message
    assert "lens/threatline-flags-by-school: unknown (injected failure)" in message
    assert "\n" not in message


def test_missing_references_reported_by_kibana_name_the_missing_object(env, kibana, tmp_path):
    partial = tmp_path / "partial.ndjson"
    partial.write_text(dump_ndjson(o for o in SHIPPED if o["id"] != "threatline-alerts"))
    with pytest.raises(KibanaError) as exc:
        import_objects(settings(), url=kibana.url, file=partial, check=False)
    message = str(exc.value)
    assert "search/threatline-alert-history: missing_references (index-pattern/threatline-alerts)" in message
    assert "lens/threatline-time-to-ack: missing_references (index-pattern/threatline-alerts)" in message


def test_a_file_that_fails_the_checks_is_not_sent(env, kibana, tmp_path):
    broken = tmp_path / "broken.ndjson"
    broken.write_text(OBJECTS_FILE.read_text().replace('"threat.school"', '"threat.schol"'))
    with pytest.raises(KibanaError, match=r"problem\(s\), nothing sent: .*threat\.schol"):
        import_objects(settings(), url=kibana.url, file=broken)
    assert kibana.requests == []


def test_wrong_password_is_a_401_error_without_the_password(env, kibana):
    env.setenv("THREATLINE_KIBANA__PASSWORD", "wrong-horse-kibana")
    with pytest.raises(KibanaError) as exc:
        import_objects(settings(), url=kibana.url)
    assert "rejected the credentials (401" in str(exc.value)
    assert "horse" not in str(exc.value)


def test_missing_xsrf_header_is_what_kibana_refuses(kibana):
    # The fake must enforce what the client is tested to send.
    answer = httpx.post(f"{kibana.url}/api/saved_objects/_import", headers={"Authorization": BASIC},
                        files={"file": ("t.ndjson", b"", "application/ndjson")})
    assert answer.status_code == 400 and "kbn-xsrf" in answer.json()["message"]


def test_a_slow_kibana_is_a_timeout_error(env, kibana):
    env.setenv("THREATLINE_KIBANA__TIMEOUT_S", "0.2")
    kibana.delay_s = 1.0
    with pytest.raises(KibanaError, match=r"did not answer within 0\.2 s"):
        import_objects(settings(), url=kibana.url)


def test_credentials_in_the_url_are_refused(env):
    with pytest.raises(KibanaError, match="not in the URL") as exc:
        import_objects(settings(), url="http://admin:hunter2@127.0.0.1:9")
    assert "hunter2" not in str(exc.value)


# --- export ---------------------------------------------------------------------------------------


def test_export_round_trip_gives_back_the_shipped_file(env, kibana, tmp_path):
    env.setenv("THREATLINE_STORE__INDEX_PREFIX", "district7")
    import_objects(settings(), url=kibana.url)
    out = tmp_path / "sub" / "exported.ndjson"
    result = export_objects(settings(), url=kibana.url, out=out)
    request = kibana.requests[-1]
    assert (request.method, request.path) == ("POST", "/api/saved_objects/_export")
    assert request.headers["kbn-xsrf"] == "true" and request.headers["authorization"] == BASIC
    body = json.loads(request.body)
    assert sorted(body["type"]) == sorted(TYPES) and body["includeReferencesDeep"] is True
    # Kibana's bookkeeping and summary line are gone, titles are back on the default prefix.
    assert out.read_text(encoding="utf-8") == OBJECTS_FILE.read_text(encoding="utf-8")
    assert result.count == len(SHIPPED) and result.missing_references == []


def test_export_reports_missing_references_from_the_summary_line(env, kibana):
    orphan = {"type": "lens", "id": "made-in-kibana", "attributes": {"title": "x"},
              "references": [{"type": "index-pattern", "id": "deleted-view", "name": "indexpattern-datasource-layer-a"}]}
    kibana.objects()[("lens", "made-in-kibana")] = orphan
    result = export_objects(settings(), url=kibana.url)
    assert result.missing_references == ["index-pattern/deleted-view"]
    assert [json.loads(line)["id"] for line in result.text.splitlines()] == ["made-in-kibana"]


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_import_and_export_print_one_line_summaries(env, kibana, tmp_path):
    runner = CliRunner()
    imported = runner.invoke(app, ["kibana", "import", "--url", kibana.url])
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.splitlines() == [
        f"imported {len(SHIPPED)} saved objects into Kibana at {kibana.url} (space default); data views on threatline-*"]
    exported = runner.invoke(app, ["kibana", "export", "--url", kibana.url])
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == OBJECTS_FILE.read_text(encoding="utf-8")
    assert exported.stderr.splitlines() == [
        f"exported {len(SHIPPED)} saved objects from Kibana at {kibana.url} (space default) to stdout"]
    out = tmp_path / "out.ndjson"
    to_file = runner.invoke(app, ["kibana", "export", "--url", kibana.url, "--output", str(out)])
    assert to_file.exit_code == 0 and f"to {out}" in to_file.stdout and out.read_text() == exported.stdout
    assert PASSWORD not in imported.output + exported.output + exported.stderr + to_file.output


def cli(*args, env):
    """The console entrypoint in a child process: real exit codes and stderr."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("THREATLINE_")}
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args], cwd=REPO,
                          env={**base, "PYTHONPATH": str(REPO), **env}, capture_output=True, text=True, timeout=120)


def assert_one_line(result, *needles):
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "horse" not in result.stderr + result.stdout


def test_cli_failures_are_one_line_and_exit_1(kibana, tmp_path):
    creds = {"THREATLINE_KIBANA__USERNAME": USER, "THREATLINE_KIBANA__TIMEOUT_S": "5"}
    assert_one_line(cli("kibana", "import", "--url", kibana.url,
                        env={**creds, "THREATLINE_KIBANA__PASSWORD": "wrong-horse-kibana"}), "kibana error:", "401")
    port = closed_port()
    assert_one_line(cli("kibana", "export", "--url", f"http://127.0.0.1:{port}", "--output", str(tmp_path / "x.ndjson"),
                        env={**creds, "THREATLINE_KIBANA__PASSWORD": PASSWORD}),
                    f"cannot reach Kibana at http://127.0.0.1:{port}")
    assert not (tmp_path / "x.ndjson").exists(), "a failed export must not leave a file behind"


def test_cli_partial_failure_is_one_line_on_stderr_and_exit_1(env, kibana):
    kibana.fail_objects[("dashboard", "threatline-triage")] = "unknown"
    result = CliRunner().invoke(app, ["kibana", "import", "--url", kibana.url])
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("kibana error: import into") and "dashboard/threatline-triage: unknown" in line
