"""threatline's spaCy components: school gazetteer, lexicons and context/specificity cues.

Built on ``spacy.blank("en")`` (no pretrained model can be downloaded here). Every component takes
its phrases from config, so the trained model's spaCy config records exactly what it saw. The
gazetteer is the district's and is attached at load time (a new school needs no retraining: the
models see a masked ``schoolname`` token, never the name itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

GAZETTEER = "threatline_gazetteer"
LEXICON = "threatline_lexicon"
CUES = "threatline_cues"


@dataclass(frozen=True)
class SchoolHit:
    school: str | None  # official name; None for a place every school has
    term: str
    relevance: float
    start_char: int
    end_char: int


if not Doc.has_extension("school_hits"):
    Doc.set_extension("school_hits", default=())


def _phrase_matcher(nlp: Language, attr: str, phrases_by_label: dict[str, list[str]]) -> PhraseMatcher:
    matcher = PhraseMatcher(nlp.vocab, attr=attr)
    for label, phrases in phrases_by_label.items():
        # make_doc, not nlp(): the patterns only need tokens, and nlp() would run this very pipeline.
        matcher.add(label, [nlp.make_doc(p) for p in dict.fromkeys(phrases) if p.strip()])
    return matcher


def _is_abbreviation(term: str) -> bool:
    return term.isupper() and len(term) <= 5


class SchoolGazetteer:
    """Names, abbreviations and mascots point at one school; a school's own places are weaker
    evidence; shared places ("the cafeteria") only say a school setting is likely. A single
    common word ("Lincoln", "Central") or a lower-case abbreviation ("lhs") counts less than a
    full name or "LHS", and `not_schools` phrases ("Lincoln Navigator", "Central Park") veto a match."""

    DISTINCT, AMBIGUOUS, OWN_PLACE, SHARED_PLACE = 1.0, 0.7, 0.8, 0.5

    def __init__(self, nlp: Language, schools: list[dict], shared_places: list[str], not_schools: list[str]):
        self.relevance: dict[tuple[str, str], float] = {}
        lower: dict[str, list[str]] = {}
        exact: dict[str, list[str]] = {}
        for school in schools:
            name = school["name"]
            for term in [name, *school.get("aliases", []), *school.get("mascots", [])]:
                lower.setdefault(name, []).append(term)
                self.relevance[(name, term.lower())] = self.DISTINCT if " " in term.strip() else self.AMBIGUOUS
                if _is_abbreviation(term):  # "LHS" as written is distinct; "lhs" could be maths
                    exact.setdefault(name, []).append(term)
            for place in school.get("places", []):
                lower.setdefault(name, []).append(place)
                self.relevance[(name, place.lower())] = self.OWN_PLACE
        lower["_shared"] = list(shared_places)
        self.lower = _phrase_matcher(nlp, "LOWER", lower)
        self.exact = _phrase_matcher(nlp, "ORTH", exact)
        self.vetoes = _phrase_matcher(nlp, "LOWER", {"_veto": list(not_schools)}) if not_schools else None

    def __call__(self, doc: Doc) -> Doc:
        vetoed = {i for _, s, e in (self.vetoes(doc) if self.vetoes else []) for i in range(s, e)}
        hits = []
        for match_id, start, end in [*self.lower(doc), *self.exact(doc)]:
            if vetoed.intersection(range(start, end)):
                continue
            span = doc[start:end]
            label = doc.vocab.strings[match_id]
            school = None if label == "_shared" else label
            if school is None:
                relevance = self.SHARED_PLACE
            elif span.text.isupper() and _is_abbreviation(span.text):
                relevance = self.DISTINCT
            else:
                relevance = self.relevance.get((school, span.text.lower()), self.DISTINCT)
            hits.append(SchoolHit(school, span.text, relevance, span.start_char, span.end_char))
        # Strongest evidence first, longer terms breaking ties ("Lincoln High School" over "Lincoln").
        doc._.school_hits = tuple(sorted(hits, key=lambda h: (-h.relevance, h.start_char - h.end_char)))
        return doc


class SpanLabeler:
    """Marks phrases from labelled lists as ``doc.spans[key]``, labelled by list name."""

    def __init__(self, nlp: Language, key: str, phrases: dict[str, list[str]]):
        self.key = key
        self.matcher = _phrase_matcher(nlp, "LOWER", phrases)

    def __call__(self, doc: Doc) -> Doc:
        doc.spans[self.key] = self.matcher(doc, as_spans=True)
        return doc


@Language.factory(GAZETTEER, default_config={"schools": [], "shared_places": [], "not_schools": []})
def make_gazetteer(nlp: Language, name: str, schools: list[dict], shared_places: list[str], not_schools: list[str]):
    return SchoolGazetteer(nlp, schools, shared_places, not_schools)


@Language.factory(LEXICON, default_config={"lexicons": {}})
def make_lexicon(nlp: Language, name: str, lexicons: dict[str, list[str]]):
    return SpanLabeler(nlp, "lexicon", lexicons)


@Language.factory(CUES, default_config={"cues": {}})
def make_cues(nlp: Language, name: str, cues: dict[str, list[str]]):
    return SpanLabeler(nlp, "cues", cues)
