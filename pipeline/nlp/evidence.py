"""Evidence before a page: the located statements that can justify a P1 or P2.

A page must point at who does what to whom: a violent act aimed at someone other than the writer,
with the writer's intent, plan, wish or condition ("i'll hurt every one of you if i have to",
"i hope he dies", "someone should shoot them", "don't come to school friday", "bringing my dad's
gun to lincoln"); or the writer's own wish or plan to die or self-harm ("hope i don't wake up",
"gonna take all my pills tonight"). The same statement made about another person ("he said he's
bringing a gun") is a report: a post is verified first, a tip is what tip lines exist for.

Framing softens only what it scopes over: negation the clause it stands in, before the statement;
quotes, fiction, games, music, news, jokes and idioms the sentence. A condition never softens:
a conditional threat with a target is substantive until assessed. Pure: text in, spans out.
The word lists are config/evidence.yaml, frozen into each trained model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SCHOOL_MARK = "§"  # school names and school places, same length as the words they replace
SENTENCE = re.compile(r"[.!?;\n]+|\s(?:lol|lmao|lmfao|jk)(?=\s|$)")
CLAUSE = re.compile(r",|\bbut\b|\bthough\b|\bbecause\b|\bcuz\b")
NEGATION = re.compile(r"\b(?:not|never|no way|don'?t|dont|do not|won'?t|wont|wouldn'?t|wouldnt|would not|"
                      r"ain'?t|aint|isn'?t|can'?t|cant|cannot|nobody|no one|didn'?t|didnt)\b")
# "i'm not saying i'll…" and "i don't care, i'll…" are hedges, not negations of what follows.
NOT_NEGATING = re.compile(r"\b(?:not saying|not sayin|don'?t care|dont care|not gonna lie|not going to lie|"
                          r"don'?t play|dont play|don'?t test|dont test|don'?t get it twisted|dont get it twisted|"
                          r"not playing|not joking|not kidding|no joke|don'?t think i won'?t|dont think i wont)\b")
# Framing that scopes over a sentence, named like the context cues of config/cues.yaml.
SENTENCE_FRAMES = ("quote_report", "news", "fiction", "game", "music", "laugh", "idiom", "hypothetical",
                   "counter_speech", "sports")


@dataclass(frozen=True)
class Evidence:
    kind: str          # violence | self_harm
    form: str          # intent, wish, call, deserve, imperative, passive, warning, doom, carry, self_plan, self_wish
    speaker: str       # writer | other (a report of someone else's words)
    severe: bool       # a lethal or armed act (a fight is not)
    start: int         # offsets into the normalised text
    end: int
    softened: tuple[str, ...] = ()  # frames that scope over it: negation, fiction, game, ...

    @property
    def stands(self) -> bool:
        """A statement nothing softens, made by the writer."""
        return not self.softened and self.speaker == "writer"


def _alt(phrases: Iterable[str]) -> str:
    """One regex alternative of whole phrases, longest first; apostrophes optional, any spacing."""
    out = []
    for p in sorted({str(p).lower().strip() for p in phrases if str(p).strip()}, key=len, reverse=True):
        body = r"\s+".join(re.escape(w) for w in p.split())
        out.append(body.replace("'", "['’]?").replace("’", "['’]?").replace(re.escape(SCHOOL_MARK), f"{SCHOOL_MARK}+"))
    return "(?:" + "|".join(out) + ")" if out else r"(?!x)x"


W = r"[\w'’§@-]+"
# A single word standing for a person ("hope trump dies"), but not a function word ("want to die").
NAME_AFTER_ACT = r"(?!x)x"  # names are not guessed in the looser shape
NAME = r"(?!(?:to|it|i|me|my|we|us|our|this|that|the|a|an|myself|so|just|really|still|literally|lowkey|kinda|everything|something|nothing|phone|battery|game|show|team|plant|car|day|week|year)(?![\w'’]))[\w'’@-]+"
GAP = rf"(?:{W}\s+){{0,3}}?"
SHORT_GAP = rf"(?:{W}\s+){{0,2}}?"
L, R = r"(?<![\w'’§@])", r"(?![\w'’§])"


class EvidenceFinder:
    def __init__(self, grammar: Mapping[str, object]):
        g = {k: v for k, v in grammar.items()}
        acts = g.get("acts", {}) or {}
        severe, minor = _alt(acts.get("severe", [])), _alt(acts.get("minor", []))
        targets, victims = _alt([*g.get("targets", []), SCHOOL_MARK]), _alt(g.get("victims", []))
        errand = _alt(g.get("errands", []))
        # "hang with you", "shooting with the crew", "rock out": company, not violence
        act = rf"(?P<act>(?P<severe>{severe})|{minor})(?:s|ed|ing|in)?(?!\s+(?:with|wit|out with|around|out\b))"
        not_errand = rf"(?!\s+(?:a|an|me|us)?\s*{errand}{R})"
        particle = r"(?:\s+(?:up|on|down|out|off|at))?"
        target = rf"(?P<target>{targets}){R}{not_errand}"
        self.violence = [
            ("intent", re.compile(rf"{L}(?P<intent>{_alt(g.get('intent', []))})\s+{GAP}{act}{particle}\s+{SHORT_GAP}{target}")),
            ("other_intent", re.compile(rf"{L}(?P<who>{_alt(g.get('third_person', []))})\s+{SHORT_GAP}"
                                        rf"(?:{_alt(g.get('third_person_intent', []))})\s+{GAP}{act}{particle}\s+{SHORT_GAP}{target}")),
            ("wish", re.compile(rf"{L}(?:{_alt(g.get('wish_verbs', []))})\s+(?:that\s+)?(?P<target>{victims}|{NAME})\s+"
                                rf"{SHORT_GAP}(?P<severe>{_alt(g.get('wished', []))}){R}")),
            ("wish", re.compile(rf"{L}(?:i\s+)?(?:want|wish|need)\s+(?P<target>him|her|them|you|u|y'?all|all of them|"
                                rf"every one of them|that \w+|this \w+|my ex)\s+(?P<severe>dead|gone for good|six feet under|in the ground|in a coffin){R}")),
            # "someone should…", "can somebody…": the modal is what makes it a call ("we beat them" is a score)
            ("call", re.compile(rf"{L}(?:(?:{_alt(g.get('callers', []))})\s+(?:{_alt(g.get('call_modals', []))})|"
                                rf"(?:can|will|could|would)\s+(?:someone|somebody|anyone|anybody|one of y'?all))\s+{SHORT_GAP}"
                                rf"{act}{particle}\s+{SHORT_GAP}{target}")),
            ("deserve", re.compile(rf"{L}(?P<target>{victims}|{NAME})\s+(?:all\s+)?(?:{_alt(g.get('deserve', []))})\s+(?:all\s+)?"
                                   rf"(?P<severe>{_alt(g.get('deserved', []))}){R}")),
            ("deserve", re.compile(rf"{L}(?P<target>{victims}|{NAME})\s+(?:all\s+)?(?P<severe>{_alt(g.get('deserve_noun', []))}){R}")),
            ("imperative", re.compile(rf"(?:^|[,:]\s*|\b(?:just|pls|please|now|go)\s+)(?P<severe>{_alt(g.get('imperatives', []))})\s+"
                                      rf"(?P<target>them|him|her|em|'em|all of them|every one of them|every last one|those \w+|these \w+|them all|the lot|all the \w+|the \w+s){R}{not_errand}")),
            ("passive", re.compile(rf"{L}(?P<target>you|u|ur|you're|youre|y'?all|he|she|they|he's|she's|they're|everyone|everybody|all of you)\s+"
                                   rf"(?:are\s+|is\s+|'re\s+|'s\s+|all\s+)?(?:gonna|going to|will|bout to|about to|finna|gon)\s+(?:all\s+)?"
                                   rf"(?:(?:get|be)\s+(?P<severe>shot|stabbed|killed|murdered|smoked|popped|blasted|bodied|dropped|hung|hanged)|"
                                   rf"(?:get|be)\s+(?:jumped|hurt|beat|beaten|fucked up|handled|dealt with|dealt wit)|(?P<die>die|bleed|pay)){R}")),
            ("deserve", re.compile(rf"{L}(?P<severe>{_alt(g.get('executions', []))})\s+(?:for|4)\s+(?P<target>{victims}|all|every|these|those|the|{NAME}){R}")),
            ("deserve", re.compile(rf"(?:^|[.!?\n]\s*)(?P<severe>{_alt(g.get('executions', []))})\s*(?:[!.]+|,\s*publicly|\s+now|\s+asap)?\s*(?:$|[\n]|(?<=[!.]))")),
            ("call", re.compile(rf"{L}(?:{_alt(g.get('time_to', []))})\s+(?P<severe>{_alt(g.get('execute_verbs', []))})\s+(?:all\s+(?:of\s+)?)?(?P<target>{targets}|these \w+|those \w+|the \w+|{NAME}){R}")),
            ("wish", re.compile(rf"{L}(?:i'?ll|i will|i'?d|ill|i would|i can|happy to|glad to|gladly)\s+(?P<severe>{_alt(g.get('rope_offers', []))}){R}")),
            ("imperative", re.compile(rf"(?:^|[.!?\n]\s*)(?P<severe>hang|lynch|execute|behead)\s+(?P<target>(?!(?:out|up|in|on|there|tight|loose|around|onto|over|together|low|back|off|with|it|that|this|my|your|ur|the|a|an|ten|10)\b){NAME}){R}")),
            ("warning", re.compile(rf"{L}(?:{_alt(g.get('warn_verbs', []))})\s+(?:to\s+)?(?P<target>{_alt(g.get('warn_places', []))}){R}")),
            ("doom", re.compile(rf"{L}(?P<target>{_alt(g.get('doomed', []))})\s+(?:{_alt(g.get('doom', []))}){R}")),
            ("carry", re.compile(rf"{L}(?:{_alt(g.get('carry', []))})\s+{SHORT_GAP}(?P<severe>{_alt(g.get('weapons', []))})\s+"
                                 rf"(?:to|into|in|at|on)\s+(?P<target>{SCHOOL_MARK}+|school|class|campus|the \w+|my \w+|his \w+|her \w+){R}")),
        ]
        # the looser shape: act or weapon, forward pointer and target in one sentence, any order
        self.loose_act = re.compile(rf"{L}(?:(?P<severe>{severe}|{_alt(g.get('weapons', []))}|{_alt(g.get('armed', []))})|{minor})"
                                    rf"(?:s|ed|ing|in)?{R}(?!\s+(?:with|wit|out with|around|a text|me a|us a){R})")
        self.loose_forward = re.compile(rf"{L}(?:{_alt(g.get('forward', []))}){R}")
        self.loose_target = re.compile(rf"{L}(?:{targets}|{victims}|{NAME_AFTER_ACT}){R}")
        self_acts = _alt(g.get("self_acts", []))
        self.self_harm = [
            ("self_plan", re.compile(rf"{L}(?:{_alt(g.get('self_subject', []))})\s+{SHORT_GAP}(?:{_alt(g.get('self_intent', []))})\s+{SHORT_GAP}"
                                     rf"(?:{self_acts})\s+(?:{_alt(g.get('self_objects', []))}){R}")),
            ("self_wish", re.compile(rf"{L}(?:{_alt(g.get('self_phrases', []))}){R}")),
        ]
        self.idiom_after = re.compile(rf"\s*(?:{_alt(g.get('self_idiom_after', []))}){R}")
        self.third_person_before = re.compile(rf"{L}(?:{_alt(g.get('third_person', []))})\s+(?:\S+\s+){{0,2}}$")

    def find(self, text: str, school_spans: Sequence[tuple[int, int]], frames: Mapping[str, Sequence[tuple[int, int]]]) -> list[Evidence]:
        """``text``: the normalised text; ``school_spans``: where schools and school places stand;
        ``frames``: where each context cue matched (quote_report, fiction, game, ...)."""
        pt = _pattern_text(text, school_spans)
        sentences = _bounds(SENTENCE, pt)
        found: list[Evidence] = []
        for form, pattern in self.violence:
            for m in pattern.finditer(pt):
                if form == "passive" and m.group("die") and not _has_time_or_school(pt, m, sentences):
                    continue  # "you're gonna die" is banter until it names when or where
                if form in ("warning", "doom") and not _has_time_or_school(pt, m, sentences, need_time=form == "warning"):
                    continue
                speaker = "other" if form == "other_intent" or self._reported_subject(pt, m.start()) else "writer"
                severe = bool(m.groupdict().get("severe")) or form in ("warning", "doom", "carry")
                found.append(self._evidence("violence", form, speaker, severe, m, pt, sentences, frames))
        for form, pattern in self.self_harm:
            for m in pattern.finditer(pt):
                if self.idiom_after.match(pt, m.end()):
                    continue  # "i want to die of embarrassment", "i wanna die lol"
                speaker = "other" if self._reported_subject(pt, m.start()) else "writer"
                found.append(self._evidence("self_harm", form, speaker, True, m, pt, sentences, frames))
        taken = {(e.start, e.end) for e in found}
        for s, e in sentences:
            if any(s <= a < e for a, _ in taken):
                continue  # a stricter shape (or the writer's own self-harm) already located the statement
            act = self.loose_act.search(pt, s, e)
            if not act or not self.loose_forward.search(pt, s, e) or not (
                    self.loose_target.search(pt, s, e) or SCHOOL_MARK in pt[s:e]):
                continue
            if self.third_person_before.search(pt[max(s, act.start() - 40):act.start()]) and "i" not in pt[s:e].split():
                speaker = "other"
            else:
                speaker = "writer"
            found.append(self._evidence("violence", "statement", speaker, bool(act.group("severe")), _Span(s, e, act),
                                        pt, sentences, frames))
        return _dedupe(found)

    def _reported_subject(self, pt: str, start: int) -> bool:
        return bool(self.third_person_before.search(pt[max(0, start - 40):start]))

    def _evidence(self, kind, form, speaker, severe, m, pt, sentences, frames) -> Evidence:
        start, end = m.span()
        sentence = _containing(sentences, start)
        clause_start = max([sentence[0], *(c.end() + sentence[0] for c in CLAUSE.finditer(pt[sentence[0]:start]))])
        before = pt[clause_start:start]
        softened = []
        inside = pt[start:end]
        if NEGATION.search(_without(NOT_NEGATING, before)) or (kind == "violence" and NEGATION.search(
                _without(NOT_NEGATING, inside[:inside.find(m.group("act")) if "act" in m.groupdict() and m.group("act") else 0]))):
            softened.append("negation")
        whole = form == "statement"  # a sentence-wide match: every frame in the sentence scopes over it
        for name in SENTENCE_FRAMES:
            if any(sentence[0] <= s < sentence[1] and (whole or not (start <= s < end)) for s, _ in frames.get(name, ())):
                softened.append(name)
        return Evidence(kind, form, speaker, severe, start, end, tuple(softened))


class _Span:
    """A sentence-wide match (the looser shape) presented like a regex match."""

    def __init__(self, start: int, end: int, act: re.Match):
        self._span, self._act = (start, end), act

    def span(self) -> tuple[int, int]:
        return self._span

    def start(self) -> int:
        return self._span[0]

    def groupdict(self) -> dict:
        return {}


def _pattern_text(text: str, school_spans: Sequence[tuple[int, int]]) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lowered: keep offsets
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    chars = list(lowered)
    for s, e in school_spans:
        chars[s:e] = SCHOOL_MARK * (e - s)
    return "".join(chars)


def _bounds(splitter: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    out, last = [], 0
    for m in splitter.finditer(text):
        out.append((last, m.end()))
        last = m.end()
    out.append((last, len(text)))
    return out


def _containing(bounds: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    for s, e in bounds:
        if s <= pos < e:
            return s, e
    return bounds[-1]


def _without(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(" ", text)


_TIME = re.compile(r"\b(?:tomorrow|tmrw|tmr|tonight|today|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"next week|this week|period|lunch|after school|before school|\d{1,2}/\d{1,2}|\d{1,2}(?::\d{2})?\s*(?:am|pm)|"
                   r"this morning|in the morning|at noon|the assembly|pep rally|homecoming|prom|graduation)\b")


def _has_time_or_school(pt: str, m: re.Match, sentences, need_time: bool = False) -> bool:
    s, e = _containing(sentences, m.start())
    sentence = pt[s:e]
    timed = bool(_TIME.search(sentence))
    return timed if need_time else timed or SCHOOL_MARK in sentence or "school" in sentence


def _dedupe(found: list[Evidence]) -> list[Evidence]:
    """Overlapping matches of one kind are one statement: keep the longest."""
    out: list[Evidence] = []
    for ev in sorted(found, key=lambda e: (e.start, -(e.end - e.start))):
        if any(o.kind == ev.kind and o.start <= ev.start < o.end for o in out):
            continue
        out.append(ev)
    return out
