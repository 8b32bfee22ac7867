import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from pipeline.alerts.rules import CATEGORIES, SEVERITIES, Decision, load_rules, parse_rules
from pipeline.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "alert_rules.yaml"
SCHOOLS = {s["name"] for s in yaml.safe_load((REPO / "config" / "schools.yaml").read_text())["schools"]}
LINCOLN, CENTRAL = "Lincoln High School", "Riverton Central High School"

SRO = Decision(("sro",), digest=False, page=True)
COUNSELOR = Decision(("counselor",), digest=False, page=True)
COUNSELOR_AND_SRO = Decision(("counselor", "sro"), digest=False, page=True)
DIGEST = Decision((), digest=True, page=False)
NOTHING = Decision((), digest=False, page=False)

# The defaults, written out by hand rather than derived from the rules under test.
EXPECTED = {
    "violence":  {"P1": SRO, "P2": SRO, "P3": DIGEST, "none": NOTHING},
    "weapons":   {"P1": SRO, "P2": SRO, "P3": DIGEST, "none": NOTHING},
    "self_harm": {"P1": COUNSELOR_AND_SRO, "P2": COUNSELOR, "P3": DIGEST, "none": NOTHING},
    "bullying":  {"P1": DIGEST, "P2": DIGEST, "P3": DIGEST, "none": NOTHING},
    "drugs":     {"P1": DIGEST, "P2": DIGEST, "P3": DIGEST, "none": NOTHING},
    "none":      {"P1": NOTHING, "P2": NOTHING, "P3": NOTHING, "none": NOTHING},
}
SCHOOL_CHOICES = [*sorted(SCHOOLS), None]


@pytest.fixture(scope="module")
def shipped():
    return load_rules(SHIPPED, SCHOOLS)


def test_the_table_covers_every_category_and_severity():
    assert set(EXPECTED) == set(CATEGORIES) and all(set(row) == set(SEVERITIES) for row in EXPECTED.values())


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("severity", SEVERITIES)
def test_shipped_defaults(shipped, category, severity):
    for school in SCHOOL_CHOICES:  # the defaults do not depend on the school
        assert shipped.route(category, severity, school) == EXPECTED[category][severity], school


def test_self_harm_never_routes_to_sro_alone(shipped):
    for severity in SEVERITIES:
        for school in SCHOOL_CHOICES:
            roles = shipped.route("self_harm", severity, school).roles
            assert "sro" not in roles or "counselor" in roles


def test_bullying_and_drugs_never_page_and_p3_is_digest_only(shipped):
    for school in SCHOOL_CHOICES:
        for severity in SEVERITIES:
            for category in ("bullying", "drugs"):
                assert not shipped.route(category, severity, school).page
        for category in CATEGORIES:
            decision = shipped.route(category, "P3", school)
            assert decision.roles == () and not decision.page
            assert decision.digest is (category != "none")
            assert shipped.route(category, "none", school) == NOTHING


def test_shipped_escalation_timeouts(shipped):
    assert shipped.escalation_timeout("P1") == timedelta(minutes=5)
    assert shipped.escalation_timeout("P2") == timedelta(minutes=30)
    assert shipped.escalation_timeout("P3") is None
    assert shipped.escalation_timeout("none") is None


def with_rules(*extra, escalate_after=None):
    """The shipped file with district rules put first."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["rules"] = [*extra, *raw["rules"]]
    if escalate_after is not None:
        raw["escalate_after"] = escalate_after
    return parse_rules(raw, SCHOOLS, source="alert_rules.yaml")


def test_district_override_weapons_p2_at_one_school_also_tells_admin():
    rules = with_rules({"category": ["weapons"], "severity": ["P2"], "schools": [LINCOLN], "notify": ["sro", "admin"]})
    assert rules.route("weapons", "P2", LINCOLN) == Decision(("sro", "admin"), digest=False, page=True)
    assert rules.route("weapons", "P2", CENTRAL) == SRO      # other schools keep the default
    assert rules.route("weapons", "P2", None) == SRO         # so does an item with no school
    assert rules.route("weapons", "P1", LINCOLN) == SRO      # and other severities
    assert rules.route("violence", "P2", LINCOLN) == SRO


def test_first_match_wins():
    rules = with_rules({"category": "violence", "severity": "any", "digest": True},
                       {"category": "violence", "notify": ["admin"]})
    assert rules.route("violence", "P1", LINCOLN) == DIGEST
    assert rules.route("weapons", "P1", LINCOLN) == SRO


def test_a_severity_without_escalation_gets_a_one_off_notice_not_a_page():
    rules = with_rules({"category": ["drugs"], "severity": ["P3"], "schools": [CENTRAL], "notify": ["admin"],
                        "digest": True})
    assert rules.route("drugs", "P3", CENTRAL) == Decision(("admin",), digest=True, page=False)
    assert rules.route("drugs", "P3", LINCOLN) == DIGEST


def test_escalation_timeouts_are_configurable():
    rules = with_rules(escalate_after={"P1": 120, "P2": 600, "P3": 86400})
    assert rules.escalation_timeout("P1") == timedelta(minutes=2)
    assert rules.escalation_timeout("P3") == timedelta(days=1)
    # No escalation for P2: its roles get a notice, nobody waits for an acknowledgement.
    rules = with_rules(escalate_after={"P1": 300})
    assert rules.route("violence", "P2", LINCOLN) == Decision(("sro",), digest=False, page=False)
    assert rules.escalation_timeout("P2") is None


def test_no_matching_rule_means_nothing():
    rules = parse_rules({"rules": [{"category": ["violence"], "notify": ["sro"]}]}, SCHOOLS)
    assert rules.route("weapons", "P1", LINCOLN) == NOTHING
    assert rules.escalation_timeout("P1") == timedelta(seconds=300)  # default when the file has none


def test_route_refuses_what_it_does_not_know(shipped):
    with pytest.raises(ValueError, match=r"unknown category 'self-harm' \(categories: violence, self_harm"):
        shipped.route("self-harm", "P1", LINCOLN)
    with pytest.raises(ValueError, match=r"unknown severity 'p1'"):
        shipped.route("violence", "p1", LINCOLN)
    with pytest.raises(ValueError, match=r"unknown school 'Lincoln High' \(the rules know: Hawthorne"):
        shipped.route("violence", "P1", "Lincoln High")


BAD = [
    ({"rules": [{"category": ["violence", "threats"], "notify": ["sro"]}]},
     r"rules\[0\]\.category\[1\]: Input should be 'violence', 'self_harm', 'bullying', 'weapons', 'drugs' or 'none' \(got 'threats'\)"),
    ({"rules": [{"severity": ["P0"], "notify": ["sro"]}]}, r"rules\[0\]\.severity\[0\]: Input should be 'P1', 'P2', 'P3' or 'none' \(got 'P0'\)"),
    ({"rules": [{"category": [], "notify": ["admin"]}]}, r"rules\[0\]\.category: give a list, or any"),
    ({"rules": [{"category": "weapons", "notify": ["police"]}]},
     r"rules\[0\]\.notify\[0\]: Input should be 'sro', 'counselor' or 'admin' \(got 'police'\)"),
    ({"rules": [{"schools": ["Lincoln High"], "notify": ["admin"], "note": "lincoln"}]},
     r"rules\[0\] \(lincoln\): unknown school 'Lincoln High' \(known: Hawthorne Middle School"),
    ({"rules": [{"category": "violence", "page": True}]}, r"rules\[0\]\.page: unknown key"),
    ({"rules": []}, r"rules: Tuple should have at least 1 item"),
    ({"escalate_after": {"P1": 0}, "rules": [{"notify": ["counselor"]}]}, r"escalate_after\.P1: Input should be greater than 0"),
    ({"escalate_after": {"P4": 60}, "rules": [{"notify": ["counselor"]}]}, r"escalate_after\.P4: Input should be 'P1', 'P2' or 'P3'"),
    ({"rule": [{"notify": ["sro"]}]}, r"rules: Field required; rule: unknown key"),
    # DESIGN.md §4: self-harm goes to a counselor, never to police alone.
    ({"rules": [{"schools": [LINCOLN], "notify": ["sro"]}]},
     r"rules\[0\]: self_harm would reach sro without counselor; add counselor or list categories without self_harm"),
    ({"rules": [{"category": ["self_harm", "violence"], "notify": ["sro", "admin"], "note": "x"}]},
     r"rules\[0\] \(x\): self_harm would reach sro without counselor"),
]


@pytest.mark.parametrize(("raw", "expected"), BAD, ids=range(len(BAD)))
def test_config_errors_are_one_line_and_name_the_rule(raw, expected):
    with pytest.raises(ConfigError) as exc:
        parse_rules(raw, SCHOOLS, source="alert_rules.yaml")
    message = str(exc.value)
    assert message.startswith("alert_rules.yaml: ") and "\n" not in message
    assert re.search(expected, message), message


def test_self_harm_with_counselor_and_sro_is_allowed():
    rules = with_rules({"category": ["self_harm"], "severity": ["P2"], "notify": ["counselor", "sro"]})
    assert rules.route("self_harm", "P2", LINCOLN) == Decision(("counselor", "sro"), digest=False, page=True)


def test_load_rules_reports_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_rules(tmp_path / "nope.yaml", SCHOOLS)
    path = tmp_path / "alert_rules.yaml"
    path.write_text("rules: [unclosed\n")
    with pytest.raises(ConfigError, match=r"alert_rules\.yaml:\d+: not valid YAML"):
        load_rules(path, SCHOOLS)
    path.write_text("[]\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_rules(path, SCHOOLS)
