"""The bundled demo data and the school gazetteer: well-formed, consistent with each other and with
what pipeline/samples/README.md promises a reader checking the demo's triage table."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import get_args
from urllib.parse import urlparse

import pytest
import yaml

import pipeline
from pipeline.config import REPO_ROOT, load_settings
from pipeline.schema import Category, RawPost, Tip
from sample_tables import table_rows

SAMPLES = Path(pipeline.__file__).parent / "samples"
SCHOOLS_FILE = REPO_ROOT / "config" / "schools.yaml"
README = SAMPLES / "README.md"

POST_FIELDS = {"source", "source_kind", "native_id", "text", "author", "url", "thread_id", "created_at"}
TIP_FIELDS = {"message", "school", "when_where", "urgent", "contact"}
SOURCE_KINDS = {"reddit", "mastodon", "rss", "bluesky", "page"}
CST = timezone(timedelta(hours=-6))
WINDOW = (datetime(2026, 11, 16, tzinfo=CST), datetime(2026, 12, 1, tzinfo=CST))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def post_lines() -> list[dict]:
    return _jsonl(SAMPLES / "posts.jsonl")


@pytest.fixture(scope="module")
def posts(post_lines) -> list[RawPost]:
    return [RawPost.model_validate(line) for line in post_lines]


@pytest.fixture(scope="module")
def tip_lines() -> list[dict]:
    return _jsonl(SAMPLES / "tips.jsonl")


@pytest.fixture(scope="module")
def gazetteer() -> dict:
    return yaml.safe_load(SCHOOLS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


# --- posts ---------------------------------------------------------------------------------------


def test_every_post_has_exactly_the_documented_fields_and_parses(post_lines, posts):
    for n, line in enumerate(post_lines, 1):
        assert set(line) == POST_FIELDS, f"posts.jsonl line {n}: fields {sorted(line)}"
    assert len(posts) == len(post_lines)


def test_post_count_is_about_three_hundred(posts):
    assert 280 <= len(posts) <= 320


def test_post_ids_are_unique(posts):
    assert len({(p.source, p.native_id) for p in posts}) == len(posts)
    assert len({p.id for p in posts}) == len(posts)


def test_source_kind_is_known_and_matches_the_source_prefix(posts):
    for p in posts:
        assert p.source_kind in SOURCE_KINDS, p.source
        assert p.source.split(":", 1)[0] == p.source_kind, p.source
    assert {p.source_kind for p in posts} == SOURCE_KINDS


@pytest.mark.parametrize("kind, shape", [
    ("reddit", r"t[13]_[0-9a-z]{7}"),
    ("mastodon", r"\d{17,19}"),
    ("bluesky", r"at://did:plc:[a-z2-7]{24}/app\.bsky\.feed\.post/[2-7a-z]{13}"),
    ("rss", r"https://[a-z0-9.-]+\.example/\S+"),
    ("page", r"post-\d+"),
])
def test_native_ids_are_shaped_like_the_sources_own(posts, kind, shape):
    ids = [p.native_id for p in posts if p.source_kind == kind]
    assert ids
    assert [i for i in ids if not re.fullmatch(shape, i)] == []


def test_created_at_is_zoned_and_in_the_last_two_weeks_of_november_2026(posts):
    for p in posts:
        assert p.created_at is not None and p.created_at.tzinfo is not None, p.native_id
        assert WINDOW[0] <= p.created_at < WINDOW[1], (p.native_id, p.created_at)
    days = {p.created_at.astimezone(CST).day for p in posts}
    assert days == set(range(16, 31)), "every day of the fortnight has posts"


def test_urls_are_on_example_domains(posts):
    for p in posts:
        parsed = urlparse(p.url or "")
        assert parsed.scheme == "https" and parsed.hostname and parsed.hostname.endswith(".example"), p.url


def test_rss_items_have_no_author_and_everything_else_has_one(posts):
    for p in posts:
        assert (p.author is None) == (p.source_kind == "rss"), (p.source, p.native_id)


def test_threads_point_at_a_root_in_the_same_source_that_came_first(posts):
    by_key = {(p.source, p.native_id): p for p in posts}
    replies = 0
    for p in posts:
        if p.thread_id is None or p.source_kind == "page":
            continue
        root = by_key.get((p.source, p.thread_id))
        assert root is not None, f"{p.native_id}: thread root {p.thread_id} is not in the sample"
        assert root.created_at <= p.created_at, p.native_id
        replies += root is not p
    assert replies >= 30, "threads exist: some posts reply to others"
    forum_threads = Counter(p.thread_id for p in posts if p.source_kind == "page")
    assert None not in forum_threads and max(forum_threads.values()) >= 3


def test_readme_counts_by_source_match_the_file(posts, readme):
    rows = table_rows(readme, "## `posts.jsonl`")
    stated = {row[0].split()[0].strip("`"): int(row[2]) for row in rows if row[0] != "total"}
    assert stated == dict(Counter(p.source for p in posts))
    assert int(rows[-1][2]) == len(posts)


def _school_terms(gazetteer: dict) -> list[re.Pattern[str]]:
    terms = []
    for school in gazetteer["schools"]:
        terms += [school["name"], *school["aliases"], *school["mascots"], *school["places"]]
    terms += gazetteer["shared_places"]
    # Short all-caps abbreviations only count in capitals, as in the gazetteer matcher.
    return [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)", 0 if t.isupper() and len(t) <= 5 else re.I) for t in terms]


def test_many_posts_mention_a_school_and_many_do_not(posts, gazetteer):
    patterns = _school_terms(gazetteer)
    mentioning = sum(any(p.search(post.text) for p in patterns) for post in posts)
    assert 0.3 <= mentioning / len(posts) <= 0.7, mentioning


def test_every_school_is_mentioned_by_name_alias_or_mascot(posts, gazetteer):
    text = "\n".join(p.text for p in posts)
    for school in gazetteer["schools"]:
        names = [school["name"], *school["aliases"], *school["mascots"]]
        assert any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text, re.I) for n in names), school["id"]


# --- the concerning posts listed in the README ------------------------------------------------


@pytest.fixture(scope="module")
def concerning(readme) -> list[list[str]]:
    return table_rows(readme, "### The concerning posts")


def test_readme_lists_ten_to_sixteen_concerning_posts_that_exist(posts, concerning):
    assert 10 <= len(concerning) <= 16
    keys = {(p.source, p.native_id) for p in posts}
    for source, native_id, *_ in concerning:
        assert (source, native_id) in keys, f"README names a post that is not in posts.jsonl: {source} {native_id}"
    assert len({(r[0], r[1]) for r in concerning}) == len(concerning)


def test_concerning_rows_use_the_schema_vocabulary_and_cover_every_kind(concerning):
    categories = set(get_args(Category)) - {"none"}
    for _, native_id, category, severity, why in concerning:
        assert category in categories, native_id
        assert severity in {"P1", "P2", "P3"}, native_id
        assert why, native_id
    seen = Counter((row[2], row[3]) for row in concerning)
    assert seen[("violence", "P1")] >= 3
    assert sum(n for (cat, _), n in seen.items() if cat == "self_harm") in (3, 4)
    assert {"bullying", "drugs", "weapons"} <= {row[2] for row in concerning}


def test_readme_hard_negative_examples_exist(posts, readme):
    rows = table_rows(readme, "### Hard negatives worth checking")
    keys = {(p.source, p.native_id) for p in posts}
    assert rows and all((r[0], r[1]) in keys for r in rows)


# --- tips --------------------------------------------------------------------------------------


def test_every_tip_has_exactly_the_documented_fields_and_builds(tip_lines):
    for n, line in enumerate(tip_lines, 1):
        assert set(line) == TIP_FIELDS, f"tips.jsonl line {n}: fields {sorted(line)}"
        assert isinstance(line["urgent"], bool)
        Tip(**line)


def test_tip_count_matches_the_readme_and_is_about_twenty_five(tip_lines, readme):
    assert 20 <= len(tip_lines) <= 30
    assert re.search(rf"\b{len(tip_lines)} submissions\b", readme)
    assert len(table_rows(readme, "## `tips.jsonl`")) == len(tip_lines)


def test_tips_name_only_schools_in_the_gazetteer(tip_lines, gazetteer):
    names = {school["name"] for school in gazetteer["schools"]}
    named = [t["school"] for t in tip_lines if t["school"] is not None]
    assert set(named) <= names
    assert len(set(named)) >= 5 and len(named) < len(tip_lines)


def test_tips_are_mostly_anonymous_and_contacts_are_fictional(tip_lines):
    contacts = [t["contact"] for t in tip_lines if t["contact"] is not None]
    assert 1 <= len(contacts) <= len(tip_lines) // 5
    for contact in contacts:
        assert contact.endswith("@example.org") or re.search(r"\b555-01\d\d\b", contact), contact
    assert 0 < sum(t["urgent"] for t in tip_lines) < len(tip_lines) / 2


# --- the gazetteer -------------------------------------------------------------------------------


def test_gazetteer_names_the_configured_district(gazetteer):
    assert gazetteer["district"] == load_settings(REPO_ROOT / "config" / "threatline.yaml").general.district
    assert gazetteer["town"]


def test_gazetteer_has_five_to_seven_schools_at_every_level(gazetteer):
    schools = gazetteer["schools"]
    assert 5 <= len(schools) <= 7
    levels = Counter(s["level"] for s in schools)
    assert set(levels) == {"elementary", "middle", "high"}
    assert levels["high"] == 2 and levels["elementary"] == 2 and levels["middle"] in (2, 3)
    for school in schools:
        assert set(school) == {"id", "name", "aliases", "mascots", "level", "places"}, school.get("id")
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", school["id"]), school["id"]
        assert school["aliases"] and school["mascots"] and school["places"], school["id"]
    assert len({s["id"] for s in schools}) == len({s["name"] for s in schools}) == len(schools)


def test_no_name_alias_mascot_or_place_points_at_two_schools(gazetteer):
    owner: dict[str, str] = {}
    for school in gazetteer["schools"]:
        for term in {t.lower() for t in [school["name"], *school["aliases"], *school["mascots"], *school["places"]]}:
            assert owner.setdefault(term, school["id"]) == school["id"], f"{term!r}: {owner[term]} and {school['id']}"
    shared = {p.lower() for p in gazetteer["shared_places"]}
    assert not shared & set(owner), "a shared place is also one school's own place"


def test_gazetteer_has_shared_places_and_staff_roles(gazetteer):
    assert len(gazetteer["shared_places"]) >= 10 and "cafeteria" in gazetteer["shared_places"]
    assert {"principal", "counselor", "SRO", "teacher", "nurse"} <= set(gazetteer["staff_roles"])


def test_demo_loader_reads_the_bundled_files(posts, tip_lines):
    from pipeline.demo import load_samples

    loaded_posts, loaded_tips = load_samples()
    assert [p.id for p in loaded_posts] == [p.id for p in posts]
    assert [t.message for t in loaded_tips] == [t["message"] for t in tip_lines]
