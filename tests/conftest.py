"""Session-scoped stand-in servers (Tansu for Kafka, osmem for Elasticsearch) and shared fixtures."""

from fixtures_kafka import *  # noqa: F401,F403
from fixtures_search import *  # noqa: F401,F403
from fixtures_pipeline import *  # noqa: F401,F403

# Metrics stay in this process's memory: loaded first, prometheus_client fixes that mode, so no
# CLI command invoked here joins a metrics directory it finds in a test's data dir
# (pipeline.metrics_dir.join) and leaves PROMETHEUS_MULTIPROC_DIR set for later tests.
import prometheus_client  # noqa: E402,F401


def pytest_terminal_summary(terminalreporter):
    """Show that each port's contract suite ran against every adapter, not just the embedded one."""
    tally: dict[tuple[str, str], dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if "/contract/" not in nodeid or "[" not in nodeid or report.when not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            suite = nodeid.split("/contract/")[1].split("::")[0].removeprefix("test_").removesuffix(".py")
            adapter = nodeid.rsplit("[", 1)[1].rstrip("]").split("-")[0]
            counts = tally.setdefault((suite, adapter), {})
            counts[outcome] = counts.get(outcome, 0) + 1
    functional = getattr(terminalreporter.config, "functional_report", None)
    if functional:
        terminalreporter.section("functional suite: pass rate per capability")
        for line in functional:
            terminalreporter.write_line(line)
    if not tally:
        return
    terminalreporter.section("contract suites per adapter")
    for (suite, adapter), counts in sorted(tally.items()):
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{suite:<16} {adapter:<14} {summary}")


@pytest.fixture
def json_log_lines():
    """The root logger (pipeline/logs.py) writing JSON to a buffer; yields a function returning the parsed lines."""
    import io
    import json
    import logging

    from pipeline.logs import configure

    root = logging.getLogger()
    level, stream = root.level, io.StringIO()
    handler = configure("json", stream=stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
