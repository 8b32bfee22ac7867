"""Which regexes of the evidence grammar can match a text at all, decided from literal strings.

Most posts hold none of the grammar's words ("kill", "gun", "die"…), yet every pattern would scan
them. For each pattern, ``required`` reads its parsed form and returns clauses: sets of literal
strings such that every match contains at least one string of each set (an alternation of verbs
is one clause, with every spelling of every verb; the intent words before it another). One
Aho-Corasick pass finds which of all those strings occur in a text, and a pattern with a clause
none of whose strings occur is skipped: it cannot match.

Exact by construction, not by testing: a run of literal characters (or of pieces with a few
spellings, like "i['’]?ll") is in every match; every part of a sequence is; an alternation's match
contains one of its alternatives' strings; a repeat with a minimum of one contains its body's.
Anything else (classes, lookarounds, optional parts, back-references) requires nothing and is
passed over, and a clause is only ever dropped, which lets more texts through, never fewer.
tests/unit/test_evidence_prefilter.py checks both halves: the analysis on hand-made patterns,
and identical evidence with and without the gate on every text we have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from re import _constants as sre
from re import _parser as sre_parse

import ahocorasick

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
# A clause with a string this short is dropped: "a" or "ll" is in every post, and dropping a
# clause only ever lets more texts through.
SHORTEST = 2
# Finite pieces ("i['’]?ll" is "ill", "i'll", "i’ll") are spelled out up to this many variants.
VARIANTS = 64

Clause = frozenset[str]  # every match contains at least one of these strings


@dataclass(frozen=True)
class AnyOf:
    """An alternation whose alternatives each need several strings ("want to die", "end it all"):
    one alternative's clauses all hold. Sharper than the union of one string per alternative."""

    alternatives: tuple[tuple[Clause, ...], ...]


Requirement = Clause | AnyOf
Need = tuple[Requirement, ...]  # every requirement holds; () when nothing can be said


def required(pattern: re.Pattern[str]) -> Need:
    """Requirements every match of ``pattern`` meets; () if none can be said."""
    if pattern.flags & re.IGNORECASE:
        return ()  # case-folded literals are not plain substrings
    return _kept(_of_sequence(sre_parse.parse(pattern.pattern, pattern.flags)))


def _kept(requirements: Iterable[Requirement]) -> Need:
    """Without clauses of strings so short that every text holds them (dropping one only lets
    more texts through), nor alternations one of whose alternatives is then left needing nothing."""
    out: list[Requirement] = []
    for r in requirements:
        if isinstance(r, AnyOf):
            alternatives = tuple(tuple(c for c in alt if _long(c)) for alt in r.alternatives)
            if all(alternatives):
                out.append(AnyOf(alternatives))
        elif _long(r):
            out.append(r)
    return tuple(dict.fromkeys(out))


def _long(clause: Clause) -> bool:
    return min(map(len, clause)) >= SHORTEST


def either(*needs: Need) -> Need:
    """What a text needs for any one of several patterns to match: one clause, the union of each
    pattern's best clause (() if one of them needs nothing)."""
    best = [_best(list(need)) for need in needs]
    return () if any(b is None for b in best) else (frozenset().union(*best),)


def _of_sequence(items: Iterable[tuple]) -> list[Requirement]:
    """Every item of a sequence is in the match, in order: each item's requirements hold, and a
    run of adjacent items with few possible spellings is one clause of whole strings."""
    requirements: list[Requirement] = []
    run: set[str] | None = None  # the spellings of the current run of finite items

    def close() -> None:
        if run and "" not in run:
            requirements.append(frozenset(run))

    for op, av in items:
        spellings = _finite(op, av)
        if spellings is not None and (run is None or len(run) * len(spellings) <= VARIANTS):
            run = set(spellings) if run is None else {a + b for a in run for b in spellings}
            continue
        close()
        run = set(spellings) if spellings is not None else None
        if spellings is None:
            requirements += _of_item(op, av)
    close()
    return requirements


def _of_item(op, av) -> list[Requirement]:
    if op is sre.SUBPATTERN:
        _group, add_flags, _del_flags, body = av
        return [] if add_flags & re.IGNORECASE else _of_sequence(body)
    if op is sre.ATOMIC_GROUP:
        return _of_sequence(av)
    if op is sre.BRANCH:
        alternatives = [[r for r in _of_sequence(alt) if not isinstance(r, AnyOf)] for alt in av[1]]
        best = [_best(alt) for alt in alternatives]
        if any(b is None for b in best):
            return []  # an alternative that needs nothing: so does the alternation
        union = frozenset().union(*best)  # one cheap clause, and the sharper test when it adds anything
        sharper = any(len(alt) > 1 for alt in alternatives)
        return [union, AnyOf(tuple(tuple(alt) for alt in alternatives))] if sharper else [union]
    if op in _REPEATS:
        low, _high, body = av
        return _of_sequence(body) if low >= 1 else []
    return []  # classes, any character, anchors, lookarounds, group references


def _best(requirements: Iterable[Requirement]) -> Clause | None:
    """The clause an alternation keeps for this alternative: long strings (few chance hits), then few."""
    clauses = [r for r in requirements if not isinstance(r, AnyOf)]
    return max(clauses, key=lambda c: (min(min(map(len, c)), SHORTEST + 3), -len(c)), default=None)


def _finite(op, av) -> set[str] | None:
    """Every string the item can match, if there are few and it is not a repeat of many."""
    if op is sre.LITERAL:
        return {chr(av)}
    if op is sre.IN and av and all(kind is sre.LITERAL for kind, _ in av):
        return {chr(c) for _, c in av}
    if op is sre.SUBPATTERN and not av[1] & re.IGNORECASE:
        return _finite_sequence(av[3])
    if op is sre.BRANCH:
        alternatives = [_finite_sequence(alt) for alt in av[1]]
        if any(a is None for a in alternatives):
            return None
        union = set().union(*alternatives)
        return union if len(union) <= VARIANTS else None
    if op in _REPEATS and av[1] <= 1:
        body = _finite_sequence(av[2])
        return None if body is None else body | ({""} if av[0] == 0 else set())
    return None


def _finite_sequence(items) -> set[str] | None:
    out = {""}
    for op, av in items:
        spellings = _finite(op, av)
        if spellings is None or len(out) * len(spellings) > VARIANTS:
            return None
        out = {a + b for a in out for b in spellings}
    return out


class LiteralGate:
    """Which of several patterns' needs a text meets, in one pass over the text. Each clause is a
    bit; each literal string carries the bits of the clauses it is in; a clause holds when its bit
    is among those the text's strings set, an alternation when one alternative's bits all are.
    The clauses tested for every text get the low bits: Python's ``&`` is as cheap as its
    smaller operand is short."""

    def __init__(self, needs: Sequence[Need]):
        alternations = {r: _split(r) for need in needs for r in need if isinstance(r, AnyOf)}
        first = [c for need in needs for r in need for c in ([alternations[r][0]] if isinstance(r, AnyOf) else [r]) if c]
        later = [c for single, multi in alternations.values() for alt in multi for c in alt]
        bit = {clause: 1 << i for i, clause in enumerate(dict.fromkeys([*first, *later]))}

        def mask(group: Iterable[Clause]) -> int:
            return sum(bit[c] for c in set(group))

        def any_of(r: AnyOf) -> tuple[int, int, dict[int, tuple[int, ...]]]:
            # Any one-clause alternative will do: together they are one clause. The others are
            # filed under their key clause (their best): only those whose key the text holds
            # are tried, and none when it holds no key.
            single, multi = alternations[r]
            by_key: dict[int, tuple[int, ...]] = {}
            for alt in multi:
                key = bit[_best(alt)]
                by_key[key] = (*by_key.get(key, ()), mask(alt))
            return (bit[single] if single else 0), sum(by_key), by_key
        self._tests = [(mask(r for r in need if not isinstance(r, AnyOf)),
                        [any_of(r) for r in need if isinstance(r, AnyOf)]) for need in needs]
        carries: dict[str, int] = {}
        for clause, b in bit.items():
            for literal in clause:
                carries[literal] = carries.get(literal, 0) | b
        self._automaton = ahocorasick.Automaton()
        for literal, bits in sorted(carries.items()):
            self._automaton.add_word(literal, bits)
        self._empty = not carries
        if not self._empty:
            self._automaton.make_automaton()

    def open(self, text: str) -> list[bool]:
        """For each pattern: may it match ``text``?"""
        seen = 0
        if not self._empty:
            for _end, bits in self._automaton.iter(text):
                seen |= bits
        return [all_of & seen == all_of and (not any_of or _alternations_hold(any_of, seen))
                for all_of, any_of in self._tests]


def _split(r: AnyOf) -> tuple[Clause | None, tuple[tuple[Clause, ...], ...]]:
    """The one-clause alternatives as one clause (any of their strings), and the others."""
    singles = [alt[0] for alt in r.alternatives if len(alt) == 1]
    return (frozenset().union(*singles) if singles else None), tuple(alt for alt in r.alternatives if len(alt) > 1)


def _alternations_hold(any_of, seen: int) -> bool:
    # plain loops: this runs for every post, and generators cost more than the tests themselves
    for single, keys, by_key in any_of:
        if seen & single:
            continue
        held, found = seen & keys, False  # the key clauses the text holds
        while held and not found:
            key = held & -held  # the lowest one left
            held ^= key
            for m in by_key[key]:
                if m & seen == m:
                    found = True
                    break
        if not found:
            return False
    return True
