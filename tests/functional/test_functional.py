"""The CheckList-style functional suite: hand-written cases per capability, run against the
champion. Each capability has a floor in floors.yaml that may only ever be raised."""

import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.bootstrap import build_classifier
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.functional import load_cases, run_suite, score_cases

HERE = Path(__file__).parent
FLOORS = yaml.safe_load((HERE / "floors.yaml").read_text(encoding="utf-8"))["floors"]


@pytest.fixture(scope="module")
def results(request):
    cases = load_cases(HERE / "cases")
    classifier = build_classifier(load_settings(DEFAULT_CONFIG))
    results = run_suite(cases, score_cases(classifier, cases))
    # Printed at the end of `make test` by conftest.pytest_terminal_summary.
    request.config.functional_report = [
        f"{name:<22} {r.passed:>3}/{r.total:<3} {r.rate:6.1%}  (floor {FLOORS.get(name, 0):.0%})" for name, r in results.items()]
    return results


def test_suite_is_big_enough_and_every_capability_has_a_floor(results):
    assert sum(r.total for r in results.values()) >= 300
    assert set(results) == set(FLOORS), "every capability needs a floor, every floor a capability"


@pytest.mark.parametrize("capability", sorted(FLOORS))
def test_capability_meets_its_floor(results, capability):
    r = results[capability]
    assert r.rate >= FLOORS[capability], f"{capability}: {r.passed}/{r.total}; failures:\n" + "\n".join(r.failures)


def test_floors_were_only_ever_raised():
    """Every committed version of floors.yaml, oldest first: no capability's floor goes down."""
    repo = HERE.parents[1]
    path = (HERE / "floors.yaml").relative_to(repo).as_posix()
    try:
        log = subprocess.run(["git", "log", "--format=%H", "--", path], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    history = [yaml.safe_load(subprocess.run(["git", "show", f"{commit}:{path}"], cwd=repo, capture_output=True,
                                             text=True, check=True).stdout)["floors"]
               for commit in reversed(log.stdout.split())] + [FLOORS]
    for older, newer in zip(history, history[1:]):
        lowered = {c: (older[c], newer[c]) for c in older if c in newer and newer[c] < older[c]}
        assert not lowered, f"floors lowered (old, new): {lowered}"
        assert set(older) <= set(newer), f"capabilities dropped: {set(older) - set(newer)}"
