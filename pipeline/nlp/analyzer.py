"""From raw texts to what the models and the explanations need: normalised text, school match,
lexicon and cue hits (as the author wrote them), a masked text for n-grams and cue features."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import spacy
import yaml
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from pipeline.config import strings_in
from pipeline.nlp import components  # noqa: F401  (registers the factories)
from pipeline.nlp.components import CUES, GAZETTEER, LEXICON, SchoolHit
from pipeline.nlp.evidence import Evidence, EvidenceFinder
from pipeline.nlp.normalize import Normalized, Normalizer

LEXICON_CATEGORIES = ("violence", "weapons", "self_harm", "bullying", "drugs")
CONTEXT_CUES = ("negation", "disavowal", "conditional", "hypothetical", "quote_report", "news", "counter_speech",
                "idiom", "game", "sports", "music", "fiction", "laugh", "support")
SPECIFICITY_CUES = ("time", "means", "countdown", "intent", "target", "self_reference", "goodbye")
FEATURES = (
    *(f"lex_{c}" for c in LEXICON_CATEGORIES),
    "school_distinct", "school_ambiguous", "school_place", "shared_place",
    *(f"cue_{c}" for c in CONTEXT_CUES + SPECIFICITY_CUES),
    "specificity", "shouting", "length",
    # Evidence (pipeline/nlp/evidence.py): statements that stand, softened ones, reports.
    "ev_violence", "ev_violence_severe", "ev_violence_soft", "ev_violence_report", "ev_self_harm", "ev_self_harm_soft",
)
MASKS = {"school": "schoolname", "identity": "idterm"}
_LETTER = re.compile(r"[^\W\d_]")
_NO_CAPITALS = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass
class Analysis:
    normalized: Normalized
    school: SchoolHit | None
    lexicon: dict[str, list[str]] = field(default_factory=dict)  # category -> words as written
    cues: dict[str, list[str]] = field(default_factory=dict)     # cue -> words as written
    masked: str = ""
    features: dict[str, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)

    def quote(self, ev: Evidence) -> str:
        """The statement as the author wrote it."""
        return self.normalized.original_text(ev.start, ev.end)

    @property
    def specifics(self) -> dict[str, list[str]]:
        """What makes a threat concrete: target, time, place, weapon, means, countdown."""
        found = {k: self.cues[k] for k in ("target", "time", "means", "countdown") if k in self.cues}
        if "weapons" in self.lexicon:
            found["weapon"] = self.lexicon["weapons"]
        if self.school is not None:
            found["place"] = [self.school.term]
        return found


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def lexicon_phrases(lexicon_dir: Path) -> dict[str, list[str]]:
    phrases: dict[str, list[str]] = {}
    for path in sorted(lexicon_dir.glob("*.yaml")):
        data = read_yaml(path)
        terms = [str(t) for t in (data.get("terms") or {})] + [str(t) for t in data.get("match_only") or []]
        phrases.setdefault(data["category"], []).extend(terms)
    return phrases


def build_nlp(lexicon_dir: Path, cues_file: Path, identity_file: Path) -> Language:
    """The model-side pipeline (frozen with a trained model); the gazetteer is attached separately.
    The evidence grammar (``evidence.yaml`` beside the cues) is frozen into the model's meta."""
    cues = read_yaml(cues_file)
    evidence_file = cues_file.with_name("evidence.yaml")
    lexicons = lexicon_phrases(lexicon_dir)
    lexicons["identity"] = [str(t) for t in read_yaml(identity_file).get("terms", [])]
    phrases = {name: [str(p) for p in group]  # YAML reads "988" as a number
               for name, group in {**cues.get("context", {}), **cues.get("specificity", {})}.items()}
    known = sorted({w.lower() for group in (*lexicons.values(), *phrases.values(), cues.get("known_words", []))
                    for phrase in group for w in str(phrase).split()})
    nlp = spacy.blank("en")
    nlp.tokenizer = lean_tokenizer(nlp)
    nlp.add_pipe(LEXICON, config={"lexicons": lexicons})
    nlp.add_pipe(CUES, config={"cues": phrases})
    nlp.meta["threatline"] = {"known_words": known, "time_patterns": [str(p) for p in cues.get("time_patterns", [])]}
    if evidence_file.is_file():
        nlp.meta["threatline"]["evidence"] = read_yaml(evidence_file)
    return nlp


def lean_tokenizer(nlp: Language) -> Tokenizer:
    """English's contractions ("don't" -> "do", "n't") with far fewer affix rules: about twice
    as fast on short posts, and the normaliser has already split emoji, URLs and hashtags."""
    punct = r"""[\[\](){}"'“”‘’«»*~…,.!?:;<>|^]"""
    rules = {k: v for k, v in nlp.tokenizer.rules.items() if "'" in k or "’" in k}
    return Tokenizer(nlp.vocab, rules=rules,
                     prefix_search=re.compile(rf"^{punct}").search,
                     suffix_search=re.compile(rf"{punct}$|['’]s$").search,
                     infix_finditer=re.compile(r"[,!?;:/…()\[\]\"]|(?<=[a-z])\.(?=[a-z])|--").finditer)


def attach_gazetteer(nlp: Language, schools_file: Path) -> Language:
    data = read_yaml(schools_file)
    config = {"schools": data.get("schools", []), "shared_places": data.get("shared_places", []),
              "not_schools": data.get("not_schools", [])}
    if GAZETTEER in nlp.pipe_names:
        nlp.remove_pipe(GAZETTEER)
    nlp.add_pipe(GAZETTEER, first=True, config=config)
    nlp.meta["school_words"] = sorted({w.lower() for text in strings_in(config["schools"]) for w in text.split()
                                       if w.isalpha() and len(w) >= 4})
    return nlp


class Analyzer:
    def __init__(self, nlp: Language):
        self.nlp = nlp
        meta = nlp.meta.get("threatline", {})
        # School words are known too ("c3ntral" -> "central"), from the gazetteer attached at load time.
        self.normalize = Normalizer([*meta.get("known_words", ()), *nlp.meta.get("school_words", ())])
        # Clock times are shapes, not phrases: matched on the text, which is cheaper than per token.
        self.time_pattern = re.compile("|".join(meta.get("time_patterns", [])) or r"(?!x)x", re.IGNORECASE)
        # Models trained before evidence-first paging have no grammar and keep their own routing.
        self.evidence = EvidenceFinder(meta["evidence"]) if "evidence" in meta else None

    def analyze(self, texts: Sequence[str], batch_size: int = 256) -> list[Analysis]:
        normalized = [self.normalize(t) for t in texts]
        docs: Iterable[Doc] = self.nlp.pipe((n.text for n in normalized), batch_size=batch_size)
        return [self._analysis(n, doc) for n, doc in zip(normalized, docs)]

    def _analysis(self, norm: Normalized, doc: Doc) -> Analysis:
        hits: tuple[SchoolHit, ...] = doc._.school_hits
        school_spans = [(h.start_char, h.end_char) for h in hits]
        lexicon: dict[str, list[str]] = {}
        masks: list[tuple[int, int, str]] = []
        for span in doc.spans.get("lexicon", []):
            if span.label_ == "identity":
                masks.append((span.start_char, span.end_char, MASKS["identity"]))
            elif not _inside(span.start_char, span.end_char, school_spans):  # "Lincoln High" is no drug
                lexicon.setdefault(span.label_, []).append(norm.original_text(span.start_char, span.end_char))
        cues: dict[str, list[str]] = {}
        frames: dict[str, list[tuple[int, int]]] = {}
        for span in doc.spans.get("cues", []):
            if self.evidence is not None and _inside(span.start_char, span.end_char, school_spans):
                continue  # "Lincoln High School" is neither a game nor a show
            cues.setdefault(span.label_, []).append(norm.original_text(span.start_char, span.end_char))
            frames.setdefault(span.label_, []).append((span.start_char, span.end_char))
        for found in self.time_pattern.finditer(norm.text):
            cues.setdefault("time", []).append(norm.original_text(*found.span()))
        masks += [(h.start_char, h.end_char, MASKS["school"]) for h in hits if h.school is not None]
        best = hits[0] if hits else None
        if best is not None:  # report the school as the author wrote it
            best = SchoolHit(best.school, norm.original_text(best.start_char, best.end_char), best.relevance,
                             *norm.original_span(best.start_char, best.end_char))
        analysis = Analysis(norm, best, lexicon, cues, _masked(norm.text, masks))
        if self.evidence is not None:
            analysis.evidence = self.evidence.find(norm.text, school_spans, frames)
        analysis.features = _features(analysis, hits, norm.original)
        return analysis


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def _masked(text: str, masks: list[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, token in sorted(masks):
        if start < last:  # overlapping matches: the first one already masked this stretch
            continue
        out += [text[last:start], token]
        last = end
    out.append(text[last:])
    return "".join(out).lower()


def _features(a: Analysis, hits: tuple[SchoolHit, ...], original: str) -> dict[str, float]:
    lex, cues = a.lexicon, a.cues
    f = {f"lex_{c}": float(min(len(lex[c]), 3)) if c in lex else 0.0 for c in LEXICON_CATEGORIES}
    schools = [h for h in hits if h.school is not None]
    f["school_distinct"] = float(any(h.relevance >= 1.0 for h in schools))
    f["school_ambiguous"] = float(any(h.relevance < 0.8 for h in schools))
    f["school_place"] = float(any(0.8 <= h.relevance < 1.0 for h in schools))
    f["shared_place"] = float(any(h.school is None for h in hits))
    f.update({f"cue_{c}": float(min(len(cues[c]), 3)) if c in cues else 0.0 for c in CONTEXT_CUES + SPECIFICITY_CUES})
    f["specificity"] = float(len(a.specifics))
    capitals = len(original) - len(original.translate(_NO_CAPITALS))  # C speed; letters only if it could matter
    letters = len(_LETTER.findall(original)) if capitals >= 5 else 0
    f["shouting"] = float(letters >= 8 and capitals / letters > 0.6)
    # Measured on the masked text: swapping "muslim" for "filipino" must not move any feature.
    # Capped at a long post's length: the corpus has nothing longer, and a linear weight must not
    # extrapolate to a 5,000-character page.
    f["length"] = round(math.log1p(min(len(a.masked), 280)), 3)
    ev = a.evidence
    f["ev_violence"] = float(any(e.kind == "violence" and e.stands for e in ev))
    f["ev_violence_severe"] = float(any(e.kind == "violence" and e.stands and e.severe for e in ev))
    f["ev_violence_soft"] = float(any(e.kind == "violence" and e.softened for e in ev))
    f["ev_violence_report"] = float(any(e.kind == "violence" and e.speaker == "other" for e in ev))
    f["ev_self_harm"] = float(any(e.kind == "self_harm" and e.stands for e in ev))
    f["ev_self_harm_soft"] = float(any(e.kind == "self_harm" and not e.stands for e in ev))
    return f
