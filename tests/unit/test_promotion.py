"""The promotion policy (pipeline/nlp/promotion.py): pure, on hand-made numbers."""

import copy

import pytest

from pipeline.nlp.promotion import PR_AUC_TOLERANCE, decide, should_promote


def head(pr_auc, p1, p2, positives=100, routed=None):
    return {"n": 1000, "positives": positives, "roc_auc": 0.95, "pr_auc": pr_auc,
            "at_threshold": {"P1": {"recall": p1}, "P2": {"recall": p2}, "P3": {"recall": 0.95}},
            "routed": routed or {"P1": 0.4, "P1/P2": 0.7}}


CHAMPION = {
    "heads": {"threat": head(0.86, 0.49, 0.75, positives=250), "self_harm": head(0.88, 0.33, 0.67, positives=90),
              "bullying": head(0.90, 0.62, 0.76, positives=120, routed={"flagged": 0.8})},
    "functional": {"negated": {"passed": 21, "total": 27, "rate": 0.78}, "news": {"passed": 27, "total": 27, "rate": 1.0}},
}


def challenger(**changes):
    numbers = copy.deepcopy(CHAMPION)
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = numbers
        for key in keys:
            target = target[key]
        target[last] = value
    return numbers


def test_equal_numbers_pass_with_one_reason_naming_the_checks():
    decision = decide("v3", challenger(), "v2", CHAMPION)
    assert decision.passed and should_promote(decision, "auto")
    # PR-AUC and recall at P2 per head, threat recall at P1, routed recall (2 + 2 + 1); each capability
    assert len(decision.checks) == 3 * 2 + 1 + 5 + 2
    assert decision.reasons() == ["not worse than v2 on any of 14 checks (PR-AUC, recall and routed recall per head, "
                                  "every functional capability)"]


def test_better_everywhere_passes():
    better = challenger(heads__threat__pr_auc=0.9, functional__negated__passed=25)
    assert decide("v3", better, "v2", CHAMPION).passed


@pytest.mark.parametrize("drop, passes", [(PR_AUC_TOLERANCE - 0.0001, True), (PR_AUC_TOLERANCE, True),
                                          (PR_AUC_TOLERANCE + 0.0001, False)])
def test_pr_auc_may_drop_by_measurement_noise_only(drop, passes):
    decision = decide("v3", challenger(heads__self_harm__pr_auc=round(0.88 - drop, 4)), "v2", CHAMPION)
    assert decision.passed is passes
    if not passes:
        assert decision.reasons() == [f"worse: self_harm PR-AUC: {0.88 - drop:.4f} vs champion 0.8800 (allowed drop 0.0050)"]


def test_recall_at_p1_and_p2_may_drop_by_one_positive_post_only():
    one_post = 1 / 90  # self_harm has 90 positives on the split
    assert decide("v3", challenger(heads__self_harm__at_threshold__P2__recall=0.67 - one_post), "v2", CHAMPION).passed
    refused = decide("v3", challenger(heads__self_harm__at_threshold__P2__recall=0.67 - 2 * one_post), "v2", CHAMPION)
    assert not refused.passed
    assert [c.what for c in refused.failures] == ["self_harm recall at P2"]
    threat = decide("v3", challenger(heads__threat__at_threshold__P1__recall=0.49 - 2 / 250), "v2", CHAMPION)
    assert [c.what for c in threat.failures] == ["threat recall at P1"]
    # P3 recall is not part of the policy: the wide net is tuned per model on validation.
    assert decide("v3", challenger(heads__threat__at_threshold__P3__recall=0.5), "v2", CHAMPION).passed


def test_raw_p1_recall_of_heads_whose_p1_tier_routing_never_reads_is_not_gated():
    """A self-harm item's tier comes from its evidence (a plan with a time, means or goodbye), not
    from the head's P1 threshold: what counts is how many self-harm posts are paged at P1."""
    assert decide("v3", challenger(heads__self_harm__at_threshold__P1__recall=0.1), "v2", CHAMPION).passed
    refused = decide("v3", challenger(heads__self_harm__routed__P1=0.4 - 2 / 90), "v2", CHAMPION)
    assert [c.what for c in refused.failures] == ["self_harm positives paged at P1"]


@pytest.mark.parametrize("head, name, what", [("threat", "P1/P2", "threat positives paged at P1/P2"),
                                              ("bullying", "flagged", "bullying positives flagged")])
def test_routed_recall_may_drop_by_one_positive_post_only(head, name, what):
    positives = CHAMPION["heads"][head]["positives"]
    was = CHAMPION["heads"][head]["routed"][name]
    assert decide("v3", challenger(**{f"heads__{head}__routed__{name}": was - 1 / positives}), "v2", CHAMPION).passed
    refused = decide("v3", challenger(**{f"heads__{head}__routed__{name}": was - 2 / positives}), "v2", CHAMPION)
    assert [c.what for c in refused.failures] == [what]


def test_one_lost_functional_case_refuses_even_when_the_heads_improve():
    decision = decide("v3", challenger(heads__threat__pr_auc=0.95, functional__news__passed=26), "v2", CHAMPION)
    assert not decision.passed
    assert decision.reasons() == ["worse: functional news (passed of 27): 26 vs champion 27"]


def test_a_capability_the_challenger_was_not_run_on_counts_as_lost():
    numbers = challenger()
    del numbers["functional"]["news"]
    assert [c.what for c in decide("v3", numbers, "v2", CHAMPION).failures] == ["functional news (passed of 27)"]


def test_undefined_metrics_compare_only_when_both_exist():
    both_undefined = challenger(heads__bullying__pr_auc=None)
    champion = copy.deepcopy(CHAMPION)
    champion["heads"]["bullying"]["pr_auc"] = None
    assert decide("v3", both_undefined, "v2", champion).passed
    assert not decide("v3", both_undefined, "v2", CHAMPION).passed  # lost a number the champion had
    assert decide("v3", challenger(), "v2", champion).passed


def test_without_a_champion_the_first_model_passes():
    decision = decide("v1", challenger(), None, None)
    assert decision.passed and decision.checks == ()
    assert decision.reasons() == ["no champion to compare with: the first model becomes champion"]


def test_promotion_modes():
    passed = decide("v3", challenger(), "v2", CHAMPION)
    refused = decide("v3", challenger(heads__threat__pr_auc=0.5), "v2", CHAMPION)
    assert [should_promote(passed, m) for m in ("auto", "never", "force")] == [True, False, True]
    assert [should_promote(refused, m) for m in ("auto", "never", "force")] == [False, False, True]


def test_decision_serialises_for_metrics_json():
    refused = decide("v3", challenger(heads__threat__pr_auc=0.5), "v2", CHAMPION).as_dict()
    assert refused["passed"] is False and refused["champion"] == "v2"
    bad = [c for c in refused["checks"] if not c["ok"]]
    assert bad == [{"what": "threat PR-AUC", "challenger": 0.5, "champion": 0.86, "allowed_drop": PR_AUC_TOLERANCE,
                    "lower_is_better": False, "ok": False}]


def shadow(challenger_pages, champion_pages):
    return {"challenger": challenger_pages, "champion": champion_pages}


@pytest.mark.parametrize("pages, passes", [(4.0, True), (5.0, True), (5.1, False), (40.0, False)])
def test_paging_materially_more_on_the_districts_posts_is_refused(pages, passes):
    """Champion 4 pages per 10,000: one more page per 10,000 is allowed (a quarter would be 1.0)."""
    decision = decide("v3", challenger(), "v2", CHAMPION, shadow(pages, 4.0))
    assert decision.passed is passes
    if not passes:
        [reason] = decision.reasons()
        assert reason.startswith("worse: pages per 10,000 of the district's own posts") and "allowed rise 1" in reason


def test_a_quarter_more_is_the_allowance_on_a_busy_stream():
    assert decide("v3", challenger(), "v2", CHAMPION, shadow(25.0, 20.0)).passed
    assert not decide("v3", challenger(), "v2", CHAMPION, shadow(25.1, 20.0)).passed


def test_a_recall_gain_buys_more_pages():
    gain = challenger(heads__threat__at_threshold__P2__recall=0.80)
    decision = decide("v3", gain, "v2", CHAMPION, shadow(40.0, 4.0))
    assert decision.passed
    [check] = [c for c in decision.as_dict()["checks"] if c["lower_is_better"]]
    assert "recall gain" in check["what"] and check["allowed_drop"] is None
    # a gain inside the one-post noise is no gain
    noise = challenger(heads__threat__at_threshold__P2__recall=0.753)
    assert not decide("v3", noise, "v2", CHAMPION, shadow(40.0, 4.0)).passed


def test_without_a_shadow_run_nothing_about_pages_is_checked():
    assert not any("pages" in c.what for c in decide("v3", challenger(), "v2", CHAMPION).checks)
