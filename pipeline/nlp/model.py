"""The trained classifier: spaCy analysis + one sklearn pipeline with three calibrated heads,
loaded from a model registry directory (models/<version>/)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import skops.io
from skops.io.exceptions import UntrustedTypesFoundException
import spacy
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.pipeline import Pipeline

from pipeline.nlp.analyzer import Analysis, Analyzer, attach_gazetteer
from pipeline.nlp.model_errors import ModelError
from pipeline.nlp.compiled import CompiledPipeline
from pipeline.nlp.features import HEADS, word_column
from pipeline.nlp import routing, routing_legacy
from pipeline.nlp.verdict import Thresholds, Verdict

MODEL_FILE = "classifier.skops"
SPACY_DIR = "spacy"
METRICS_FILE = "metrics.json"
# Everything a model file may contain beyond what skops trusts by default. Anything else refuses
# to load: a model is data, and data from elsewhere must not run code.
TRUSTED_TYPES = [
    "pipeline.nlp.features.CharNgrams",
    "pipeline.nlp.features.HashedCharNgrams",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]
TOP_NGRAMS = 3
FUNCTION_WORDS = frozenset(ENGLISH_STOP_WORDS) | {"im", "i'm", "u", "ur", "gonna", "just", "lol", "!", "?"}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Scored:
    verdict: Verdict
    analysis: Analysis
    scores: dict[str, float]  # calibrated probability per head, unrounded


class TrainedClassifier:
    def __init__(self, version: str, analyzer: Analyzer, pipeline: Pipeline, thresholds: dict[str, Thresholds]):
        self.version = version
        self.analyzer = analyzer
        self.pipeline = pipeline
        self.thresholds = thresholds
        self._compiled = CompiledPipeline(pipeline)
        # Evidence-first paging (pipeline/nlp/routing.py) needs the grammar frozen with the model.
        self.evidence_first = analyzer.evidence is not None
        words = pipeline.named_steps["features"].named_transformers_["words"]
        self._hashed_words = None if hasattr(words, "vocabulary_") else words.named_steps["hash"]
        if self._hashed_words is not None:  # no vocabulary stored: n-grams are read off the post itself
            self._n_words = self._hashed_words.n_features
            self._analyze_words = self._hashed_words.build_analyzer()
            self._word_coefs = {h: w[:self._n_words] for h, w in self._compiled.head_weights.items()}
            return
        names = pipeline.named_steps["features"].get_feature_names_out()
        # Only word n-grams that carry meaning make sense to an SRO ("gun tomorrow", not "my");
        # character n-grams and function words still count in the score.
        self._word_columns = np.array([i for i, n in enumerate(names) if n.startswith("words__")
                                       and not set(n.removeprefix("words__").split()) <= FUNCTION_WORDS])
        self._word_names = np.array([_readable(names[i].removeprefix("words__")) for i in self._word_columns])
        self._word_coefs = {h: w[self._word_columns] for h, w in self._compiled.head_weights.items()}

    @classmethod
    def load(cls, model_dir: Path, schools_file: Path) -> TrainedClassifier:
        manifest = _read_json(model_dir / "manifest.json")
        model_file = model_dir / MODEL_FILE
        if not model_file.is_file():
            raise ModelError(f"{model_dir}: no {MODEL_FILE}")
        if sha256_file(model_file) != manifest.get("sha256", {}).get(MODEL_FILE):
            raise ModelError(f"{model_file}: checksum does not match manifest.json; refusing to load")
        try:  # skops audits every type before building anything; nothing untrusted is executed
            pipeline = skops.io.load(model_file, trusted=TRUSTED_TYPES)
        except UntrustedTypesFoundException as exc:
            raise ModelError(f"{model_file}: contains types threatline does not trust: {exc}") from None
        nlp = attach_gazetteer(spacy.load(model_dir / SPACY_DIR), schools_file)
        metrics = _read_json(model_dir / METRICS_FILE)
        thresholds = {h: Thresholds(**{k.lower(): v for k, v in t.items()}) for h, t in metrics["thresholds"].items()}
        return cls(manifest["version"], Analyzer(nlp), pipeline, thresholds)

    def score(self, text: str) -> Verdict:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str], tips: Sequence[bool] = ()) -> list[Verdict]:
        return [s.verdict for s in self.score_detailed(texts, tips)]

    def probabilities(self, analyses: Sequence[Analysis]) -> tuple[dict[str, np.ndarray], sp.csr_matrix]:
        features = self._compiled.features(analyses)
        return self._compiled.probabilities(features), features

    def score_detailed(self, texts: Sequence[str], tips: Sequence[bool] = ()) -> list[Scored]:
        """``tips``: which texts are tip-line messages (a reported threat is evidence there)."""
        if not texts:
            return []
        analyses = self.analyzer.analyze(texts)
        probs, features = self.probabilities(analyses)
        words = features if self._hashed_words is not None else features[:, self._word_columns].tocsr()  # once per batch
        out = []
        for row, analysis in enumerate(analyses):
            scores = {h: float(probs[h][row]) for h in HEADS}
            tip = bool(tips[row]) if row < len(tips) else False
            if not self.evidence_first:  # a model from before evidence-first paging
                severity, category, why = routing_legacy.route(scores, analysis, self.thresholds)
            else:
                severity, category, why = routing.route(scores, analysis, self.thresholds, tip)
            if severity != "none":  # explanations cost a little; only flagged items need words
                head = "self_harm" if category == "self_harm" else "bullying" if category == "bullying" else "threat"
                top = self._top_ngrams(words, row, head, analysis.masked)
                if top:
                    why.append("Words that raised the score: " + ", ".join(f"'{w}'" for w in top) + ".")
            school = analysis.school
            if school is not None:
                where = school.school or "a school setting"
                why.append(f"Mentions {where} ('{school.term}').")
            out.append(Scored(Verdict(
                threat_score=round(scores["threat"], 4), self_harm_score=round(scores["self_harm"], 4),
                severity=severity, category=category,
                school=school.school if school else None,
                school_relevance=school.relevance if school else 0.0,
                explanation=why, cues=_cue_list(analysis),
                specifics=tuple(analysis.specifics),
                evidence=tuple(analysis.quote(e) for e in analysis.evidence if severity != "none")), analysis, scores))
        return out

    def _top_ngrams(self, words, row: int, head: str, masked: str) -> list[str]:
        if self._hashed_words is not None:
            return self._top_hashed_ngrams(words, row, head, masked)
        start, end = words.indptr[row], words.indptr[row + 1]
        columns = words.indices[start:end]
        values = words.data[start:end] * self._word_coefs[head][columns]
        best = np.argsort(values)[::-1][:TOP_NGRAMS]
        return [str(self._word_names[columns[i]]) for i in best if values[i] > 0]


    def _top_hashed_ngrams(self, features, row: int, head: str, masked: str) -> list[str]:
        start, end = features.indptr[row], features.indptr[row + 1]
        values = dict(zip(features.indices[start:end].tolist(), features.data[start:end].tolist()))
        grams = [g for g in dict.fromkeys(self._analyze_words(masked)) if not set(g.split()) <= FUNCTION_WORDS]
        weight = {g: values.get(c, 0.0) * self._word_coefs[head][c]
                  for g in grams if (c := word_column(self._n_words, g)) < self._n_words}
        return [_readable(g) for g in sorted(weight, key=weight.get, reverse=True)[:TOP_NGRAMS] if weight[g] > 0]


def _readable(ngram: str) -> str:
    return ngram.replace("schoolname", "[school]").replace("idterm", "[identity]")


def _cue_list(a: Analysis) -> list[str]:
    # evidence first: the console marks the longest cue, so the whole statement is highlighted
    cues = [f"evidence:{e.kind}-{e.form}:{a.quote(e)}" for e in a.evidence]
    cues += [f"lexicon:{cat}:{w}" for cat, words in a.lexicon.items() for w in dict.fromkeys(words)]
    cues += [f"cue:{name}:{w}" for name, words in a.cues.items() if name != "self_reference" for w in dict.fromkeys(words)]
    return cues


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc.msg})") from None
