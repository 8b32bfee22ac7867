import pytest
from pydantic import ValidationError

from pipeline.schema import (
    SCHEMA_VERSION, Alert, RawPost, ReviewEvent, ScoredItem, Tip, audit_document, item_document, stable_id,
)


def post(**kw):
    base = dict(source="reddit:riverton", source_kind="reddit", native_id="t3_abc", text="see you at the game")
    return RawPost(**{**base, **kw})


def scored(**kw):
    base = dict(id="x1", kind="post", text="hello", source="rss:courier", threat_score=0.9, self_harm_score=0.0,
                severity="P1", category="violence", school="Lincoln High School", school_relevance=1.0,
                explanation=["keyword 'gun'"], model_version="lexicon-abc")
    return ScoredItem(**{**base, **kw})


def test_post_id_is_stable_hash_of_source_and_native_id():
    a, b = post(), post(text="edited text")
    assert a.id == b.id == stable_id("reddit:riverton", "t3_abc")
    assert post(native_id="t3_abd").id != a.id
    assert post(source="reddit:other").id != a.id


def test_post_rejects_an_id_that_does_not_match():
    with pytest.raises(ValidationError, match="does not match"):
        post(id="forged")


@pytest.mark.parametrize("model", [
    post(),
    Tip(message="someone said they'd bring a knife friday", school="Lincoln High School"),
    scored(),
    Alert(item_id="x1", role="sro", severity="P1", category="violence", excerpt="…"),
    ReviewEvent(item_id="x1", actor="officer.diaz", role="sro", action="acknowledge"),
])
def test_json_round_trip_keeps_everything(model):
    again = type(model).from_bytes(model.to_bytes())
    assert again == model
    assert again.schema_version == SCHEMA_VERSION


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        RawPost.model_validate({"source": "s", "native_id": "1", "text": "t", "ip": "10.0.0.1"})


def test_tips_get_unique_ids_and_codes_without_confusables():
    tips = [Tip(message="m") for _ in range(50)]
    assert len({t.id for t in tips}) == 50 and len({t.code for t in tips}) == 50
    assert not any(set(t.code) & set("01IOL") for t in tips)


def test_tip_message_bounds():
    with pytest.raises(ValidationError):
        Tip(message="")
    with pytest.raises(ValidationError):
        Tip(message="x" * 5001)


def test_alert_id_is_derived_from_item_and_role():
    a = Alert(item_id="x1", role="sro", severity="P1", category="violence", excerpt="e")
    assert a.id == Alert(item_id="x1", role="sro", severity="P2", category="weapons", excerpt="f").id
    assert a.id != Alert(item_id="x1", role="counselor", severity="P1", category="violence", excerpt="e").id


def test_item_document_uses_ecs_names():
    doc = item_document(scored(url="https://news.example/a", author="rivertonkid"))
    assert doc["message"] == "hello"
    assert doc["event"]["id"] == "x1" and doc["event"]["provider"] == "rss:courier"
    assert doc["event"]["kind"] == "alert"
    assert doc["url"]["full"] == "https://news.example/a" and doc["user"]["name"] == "rivertonkid"
    assert doc["labels"]["school"] == "Lincoln High School"
    assert doc["threat"]["severity"] == "P1" and doc["threat"]["score"] == 0.9
    assert doc["review"]["status"] == "open"
    assert "@timestamp" in doc


def test_tip_contact_only_under_threat_tip():
    doc = item_document(scored(kind="tip", source="tipline", tip_code="ABC", tip_contact="parent@example.org"))
    assert doc["threat"]["tip"] == {"code": "ABC", "contact": "parent@example.org"}
    assert "parent@example.org" not in str({k: v for k, v in doc.items() if k != "threat"})


def test_audit_document_shape():
    doc = audit_document(ReviewEvent(item_id="x1", actor="a", role="sro", action="view"))
    assert doc["event"]["action"] == "view" and doc["user"]["name"] == "a" and doc["threat"]["item_id"] == "x1"
