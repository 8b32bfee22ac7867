"""Language identification on short posts: English slang stays English, other languages are
named, links, @mentions and hashtags do not sway it, and the answer never changes between runs."""

from __future__ import annotations

import pytest

from pipeline.nlp.language import guess_language

ENGLISH = [
    "ngl this chem test is killing me fr",
    "@user12 lmaooo bruh the refs were trash tonight 😭 #gameday",
    "who tryna hit the mall after practice, ion got a ride",
    "Kaelonisha Brightwater Thunderbolts championship parade Saturday 10am https://t.co/ab12cd34",
    "ok", "k", "🔥🔥🔥", "",
]
OTHER = [
    ("es", "alguien sabe a qué hora abre la biblioteca el sábado https://t.co/x1y2z3"),
    ("fr", "on a fini le projet de sciences hier soir, enfin le week-end #fridaynight 💀"),
    ("pt", "o jogo de ontem foi incrível, o time jogou muito bem até o final"),
    ("de", "morgen ist schulfrei, wir gehen mit der ganzen klasse ins museum"),
    ("it", "domani c'è la gita scolastica, non vedo l'ora di partire con tutti"),
    ("vi", "hôm nay trời mưa to quá, mọi người nhớ mang áo mưa khi đi học nhé"),
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_and_too_short_to_tell_are_english(text):
    assert guess_language(text) == "en"


@pytest.mark.parametrize("lang,text", OTHER)
def test_other_languages_are_named(lang, text):
    assert guess_language(text) == lang


def test_the_same_text_gets_the_same_answer():
    texts = [t for _, t in OTHER] + ENGLISH
    assert [guess_language(t) for t in texts] == [guess_language(t) for t in texts]
