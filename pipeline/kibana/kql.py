"""Enough KQL to find every field a saved query names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pipeline.kibana.errors import KibanaError

_KQL_TOKEN = re.compile(r'\s*(?:(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()<>:"]+))')
_KQL_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True)
class KqlTerm:
    field: str
    op: str
    values: tuple[str, ...]


def kql_terms(query: str) -> list[KqlTerm]:
    """The ``field <op> value`` clauses of a KQL query; ``field : ("a" or "b")`` gives both values.

    Enough KQL to find every field a saved query names; free-text words are not clauses."""
    tokens, pos, text = [], 0, query.rstrip()
    while pos < len(text):
        m = _KQL_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise KibanaError(f"KQL {query!r}: cannot parse near {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    terms, i = [], 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word" and i + 1 < len(tokens) and tokens[i + 1][0] == "op":
            op, j, values = tokens[i + 1][1], i + 2, []
            if j < len(tokens) and tokens[j] == ("paren", "("):
                depth, j = 1, j + 1
                while j < len(tokens) and depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "paren" else 0
                    if tokens[j][0] in ("word", "quoted") and tokens[j][1].lower() not in _KQL_KEYWORDS:
                        values.append(_unquote(tokens[j][1]))
                    j += 1
            elif j < len(tokens) and tokens[j][0] in ("word", "quoted"):
                values.append(_unquote(tokens[j][1]))
                j += 1
            terms.append(KqlTerm(value, op, tuple(values)))
            i = j
        else:
            i += 1
    return terms


def _unquote(token: str) -> str:
    return json.loads(token) if token.startswith('"') else token
