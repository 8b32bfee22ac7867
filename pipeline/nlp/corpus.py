"""The training corpus: our own template families (models/data/templates/) filled from slot lists
and varied in register, deterministically. See docs/datasheet.md for how it was written.

Splits are by family: every text of a family, and every instantiation of it, lands in the same
split, so near-duplicates never straddle train and test.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.nlp.features import HEADS

SPLITS = ("train", "validation", "test")
_SLOT = re.compile(r"\{(\w+)\}")
TEXTING = {"you": "u", "your": "ur", "you're": "ur", "tomorrow": "tmrw", "because": "bc", "people": "ppl",
           "to be honest": "tbh", "going to": "gonna", "want to": "wanna", "about to": "bout to",
           "really": "rly", "please": "pls", "though": "tho", "with": "wit", "that": "dat"}
LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "$"}


@dataclass(frozen=True)
class Family:
    family: str
    kind: str
    labels: dict[str, int]
    texts: tuple[str, ...]
    source: str
    free: bool = False  # free-written posts (models/data/free/): taken once, as written, no slots


def load_families(template_dir: Path, *, free: bool = False, seen: set[str] | None = None) -> list[Family]:
    """``free``: the directory holds free-written posts, not templates (no slots, no register
    variation). ``seen``: family names taken already (names are unique across directories)."""
    families: list[Family] = []
    seen = set() if seen is None else seen
    for path in sorted(template_dir.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            name = entry["family"]
            if name in seen:
                raise ValueError(f"{path.name}: family {name!r} defined twice")
            seen.add(name)
            labels = {h: int(entry.get("labels", {}).get(h, 0)) for h in HEADS}
            texts = tuple(str(t) for t in entry["texts"])
            if free and any(_SLOT.search(t) for t in texts):
                raise ValueError(f"{path.name}: family {name!r}: free-written posts take no {{slots}}")
            families.append(Family(name, entry["kind"], labels, texts, path.name, free))
    return families


def slot_values(slots_file: Path, schools_file: Path) -> dict[str, list[str]]:
    values = {k: [str(v) for v in vs] for k, vs in yaml.safe_load(slots_file.read_text(encoding="utf-8")).items()}
    schools = yaml.safe_load(schools_file.read_text(encoding="utf-8"))
    values["school"] = [t for s in schools["schools"] for t in [s["name"], *s.get("aliases", []), *s.get("mascots", [])]]
    values["place"] = [p for s in schools["schools"] for p in s.get("places", [])]
    values["place"] += [f"the {p}" for p in schools.get("shared_places", [])]
    return values


# 14:3:3 per 20 families, validation and test spread out so each kind reaches every split.
_DEAL = {3: "validation", 10: "validation", 16: "validation", 6: "test", 13: "test", 19: "test"}


def split_of(rank: int) -> str:
    return _DEAL.get(rank % 20, "train")


def _fill(template: str, values: dict[str, list[str]], rng: random.Random) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise ValueError(f"unknown slot {{{m.group(1)}}} in {template!r}")
        return rng.choice(values[m.group(1)])
    return _SLOT.sub(one, template)


def vary_register(text: str, rng: random.Random) -> str:
    """Teen-texting variation that keeps the meaning (and so the label)."""
    if rng.random() < 0.35:
        text = text.lower()
    if rng.random() < 0.3:
        text = text.replace("'", "").replace("’", "")
    if rng.random() < 0.25:
        for formal, casual in TEXTING.items():
            if rng.random() < 0.6:
                text = re.sub(rf"\b{re.escape(formal)}\b", casual, text, flags=re.IGNORECASE)
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if long_words and rng.random() < 0.15:  # one transposition typo
        i = rng.choice(long_words)
        w, j = words[i], rng.randrange(1, len(words[i]) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    if long_words and rng.random() < 0.08:  # elongation
        i = rng.choice(long_words)
        words[i] = words[i] + words[i][-1] * rng.randint(2, 4)
    if long_words and rng.random() < 0.05:  # leetspeak, in positives and negatives alike
        i = rng.choice(long_words)
        words[i] = "".join(LEET.get(c, c) if rng.random() < 0.5 else c for c in words[i])
    text = " ".join(words)
    return text.rstrip(".") if rng.random() < 0.2 else text


def generate(families: Iterable[Family], values: dict[str, list[str]], *, per_text: int = 2, seed: int = 2026) -> list[dict]:
    families = list(families)
    # Deal families into splits within each label pattern, ordered by kind, so every split gets
    # threats, self-harm, bullying and negatives, and most kinds in each.
    ranks: dict[str, int] = {}
    by_labels: dict[tuple[int, ...], list[Family]] = {}
    for f in families:  # free-written families are dealt apart, so adding them moves no template family
        by_labels.setdefault((f.free, *f.labels.values()), []).append(f)
    for group in by_labels.values():
        ordered = sorted(group, key=lambda f: (f.kind, hashlib.sha256(f.family.encode()).hexdigest()))
        for rank, f in enumerate(ordered):
            ranks[f.family] = rank
    rows, seen = [], set()
    for f in families:
        rng = random.Random(f"{seed}:{f.family}")
        for template in f.texts:
            for _ in range(1 if f.free else per_text):
                text = " ".join(template.split()) if f.free else vary_register(_fill(template, values, rng), rng).strip()
                key = " ".join(text.lower().split())
                if key in seen:  # near-verbatim repeats across families and files count once
                    continue
                seen.add(key)
                rows.append({"id": hashlib.sha256(text.encode()).hexdigest()[:16], "family": f.family,
                             "kind": f.kind, "split": split_of(ranks[f.family]), "text": text, **f.labels})
    return rows


def write_jsonl(rows: Iterable[dict], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def text_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of a JSON Lines file whose every row has a non-empty ``text``;
    ValueError naming the file and line otherwise: a bad row is an error, never a silent skip."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise ValueError(f"{path}:{number}: needs a non-empty 'text' string")
        rows.append((number, row))
    return rows


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
