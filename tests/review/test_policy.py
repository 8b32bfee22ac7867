"""Who sees what and who may do what (pipeline.review.policy): the rules on their own, and the
store query they produce agreeing with them on both store adapters."""

from __future__ import annotations

import itertools

import pytest
from service_support import CONTACT, index, scored

from pipeline.review.policy import (
    ACTIONS, CATEGORIES, ROLES, Forbidden, can_act, can_read_conversation, can_view, item_filter, visible_item,
)
from pipeline.schema import item_document
from pipeline.store import ItemQuery

SEVERITIES = ("P1", "P2", "P3")


def doc(category="violence", severity="P1", kind="tip"):
    return item_document(scored(f"{kind}-{category}-{severity}", category=category, severity=severity, kind=kind))


@pytest.mark.parametrize(("role", "category", "severity", "visible"), [
    ("sro", "violence", "P3", True),
    ("sro", "weapons", "P1", True),
    ("sro", "drugs", "P3", True),
    ("sro", "bullying", "P3", True),
    ("sro", "self_harm", "P1", True),    # paged for a welfare check
    ("sro", "self_harm", "P2", False),   # a welfare matter for the counselor only
    ("sro", "self_harm", "P3", False),
    ("counselor", "self_harm", "P2", True),
    ("counselor", "self_harm", "P1", True),
    ("counselor", "bullying", "P3", True),
    ("counselor", "violence", "P1", False),
    ("counselor", "weapons", "P2", False),
    ("counselor", "drugs", "P3", False),
    ("analyst", "violence", "P1", True),
    ("analyst", "self_harm", "P2", True),
    ("admin", "self_harm", "P3", True),
    ("admin", "drugs", "P3", True),
    ("janitor", "violence", "P1", False),  # unknown roles see nothing
])
def test_who_sees_which_items(role, category, severity, visible):
    assert can_view(role, doc(category, severity)) is visible


@pytest.mark.parametrize("role", ROLES)
def test_tipster_contact_is_for_sros_and_admins_only(role):
    for category, severity in itertools.product(CATEGORIES, SEVERITIES):
        d = doc(category, severity)
        if not can_view(role, d):
            with pytest.raises(Forbidden):
                visible_item(role, d)
            continue
        shown = visible_item(role, d)
        assert (shown["threat"]["tip"].get("contact") == CONTACT) is (role in ("sro", "admin"))
        assert shown["message"] == d["message"] and shown["threat"]["tip"]["code"] == d["threat"]["tip"]["code"]
        assert d["threat"]["tip"]["contact"] == CONTACT  # the caller's document is left alone


def test_a_counselor_cannot_see_the_contact_of_a_violence_tip_in_any_way():
    violence = doc("violence", "P1")
    assert not can_view("counselor", violence) and not can_read_conversation("counselor", violence)
    with pytest.raises(Forbidden):
        visible_item("counselor", violence)
    assert CONTACT not in str(visible_item("counselor", doc("self_harm", "P2")))


def test_analysts_never_read_a_tip_conversation_and_others_only_of_items_they_see():
    assert not any(can_read_conversation("analyst", doc(c, s)) for c, s in itertools.product(CATEGORIES, SEVERITIES))
    assert can_read_conversation("counselor", doc("self_harm", "P2"))
    assert can_read_conversation("sro", doc("violence", "P1"))
    assert not can_read_conversation("sro", doc("self_harm", "P2"))


CASEWORK = {"view", "search", "acknowledge", "assign", "escalate", "dismiss", "resolve", "reply", "label", "note",
            "page_now", "close_thread"}


@pytest.mark.parametrize(("role", "allowed"), [
    ("sro", CASEWORK),
    ("counselor", CASEWORK),
    ("analyst", {"view", "search", "label", "note"}),
    ("admin", set(ACTIONS)),
    ("janitor", set()),
])
def test_who_may_do_what(role, allowed):
    assert {a for a in ACTIONS if can_act(role, a)} == allowed
    assert not can_act(role, "delete_everything")
    assert can_act(role, "manage_users") is (role == "admin")


def test_item_filter_refuses_unknown_roles():
    with pytest.raises(ValueError, match="unknown role 'janitor'; expected one of sro, counselor, analyst, admin"):
        item_filter("janitor")


def test_the_store_query_lists_exactly_what_can_view_allows(store_factory):
    """The queue and the item page must agree: every category x severity x kind on both stores."""
    store = store_factory()
    items = [scored(f"{kind}-{c}-{s}", category=c, severity=s, kind=kind, tip_code=f"CODE{n:06d}")
             for n, (kind, c, s) in enumerate(itertools.product(("post", "tip"), CATEGORIES, SEVERITIES))]
    index(store, *items)
    docs = {i.id: item_document(i) for i in items}
    for role in ROLES:
        found = store.search_items(ItemQuery(size=100, **item_filter(role)))
        expected = {i for i, d in docs.items() if can_view(role, d)}
        assert {h.id for h in found.hits} == expected and found.total == len(expected), role
