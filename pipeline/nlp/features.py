"""The scikit-learn side: one feature union (word n-grams, character n-grams, spaCy cue features)
feeding three calibrated linear heads. Features are computed once per batch for all heads."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, normalize
from sklearn.utils import murmurhash3_32

from pipeline.nlp.analyzer import FEATURES, Analysis

HEADS = ("threat", "self_harm", "bullying")
_CACHE_LIMIT = 200_000


class CharNgrams(TransformerMixin, BaseEstimator):
    """TF-IDF of character n-grams inside word boundaries, exactly as sklearn's ``char_wb``
    analyzer computes them, but memoised per word: char_wb n-grams never cross a word, and words
    repeat, so a post costs a few dictionary lookups instead of hundreds of n-gram counts."""

    def __init__(self, ngram_range: tuple[int, int] = (3, 5), min_df: int = 2, max_features: int | None = 60_000):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, texts: Sequence[str], y=None) -> CharNgrams:
        self.tfidf_ = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, min_df=self.min_df,
                                      max_features=self.max_features, sublinear_tf=True, dtype=np.float32)
        self.tfidf_.fit(_texts(texts))
        self.n_features_ = len(self.tfidf_.vocabulary_)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        analyze, vocabulary = self.tfidf_.build_analyzer(), self.tfidf_.vocabulary_
        counts = _word_counts(self.__dict__, _texts(texts), self.n_features_, lambda word: np.fromiter(
            (i for i in map(vocabulary.get, analyze(word)) if i is not None), dtype=np.int32))
        # sublinear tf times idf, then l2 rows: what the fitted vectorizer does, in place on .data
        counts.data = (1.0 + np.log(counts.data)) * self._idf()[counts.indices]
        return normalize(counts, copy=False)

    def _idf(self) -> np.ndarray:
        idf = self.__dict__.get("_idf32")
        if idf is None:
            idf = self.__dict__["_idf32"] = self.tfidf_.idf_.astype(np.float32)
        return idf

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.tfidf_.get_feature_names_out()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_idf32")}


class HashedCharNgrams(TransformerMixin, BaseEstimator):
    """Character n-grams inside word boundaries (sklearn's ``char_wb``), hashed into a fixed number
    of columns, with sublinear tf-idf: the fitted model holds document frequencies per column and
    no n-gram itself, so no name or rare string from the corpus or from analysts' labels can end up
    in a model file. Memoised per word like CharNgrams."""

    def __init__(self, ngram_range: tuple[int, int] = (3, 5), n_features: int = 2 ** 17):
        self.ngram_range = ngram_range
        self.n_features = n_features

    def fit(self, texts: Sequence[str], y=None) -> HashedCharNgrams:
        counts = self._counts(_texts(texts))
        df = np.bincount(counts.indices, minlength=self.n_features)
        n = counts.shape[0]
        self.idf_ = (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)
        return self

    def _counts(self, texts: list[str]) -> sp.csr_matrix:
        analyze = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range).build_analyzer()
        return _word_counts(self.__dict__, texts, self.n_features, lambda word: np.fromiter(
            (murmurhash3_32(g, positive=True) % self.n_features for g in analyze(word)), dtype=np.int32))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts = self._counts(_texts(texts))
        counts.data = (1.0 + np.log(counts.data)) * self.idf_[counts.indices]
        return normalize(counts, copy=False)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}


WORD_TOKENS = r"(?u)[@\w']+|[!?]"
WORD_FEATURES = 2 ** 17


def hashed_words() -> Pipeline:
    """Word 1-2-grams hashed into columns, then sublinear tf-idf: no vocabulary is stored."""
    return Pipeline([("hash", HashingVectorizer(ngram_range=(1, 2), token_pattern=WORD_TOKENS, n_features=WORD_FEATURES,
                                                alternate_sign=False, norm=None, dtype=np.float32)),
                     ("tfidf", TfidfTransformer(sublinear_tf=True))])


def word_column(n_features: int, ngram: str) -> int:
    """The column HashingVectorizer puts a word n-gram in (|signed murmurhash3| mod n)."""
    return abs(murmurhash3_32(ngram, seed=0)) % n_features


def _word_counts(state: dict, texts: list[str], n_features: int, ids_of) -> sp.csr_matrix:
    """Counts of char_wb n-gram columns per text. char_wb n-grams never cross a word and words
    repeat, so each word's column ids (``ids_of(word)``) are computed once and kept in
    ``state["_cache"]`` (never persisted)."""
    cache = state.setdefault("_cache", {})
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cols: list[np.ndarray] = []
    per_row: list[int] = []
    for text in texts:
        count = 0
        for word in text.split():
            ids = cache.get(word)
            if ids is None:
                ids = cache[word] = ids_of(word)
            cols.append(ids)
            count += ids.size
        per_row.append(count)
    n = len(per_row)
    if not any(per_row):
        return sp.csr_matrix((n, n_features), dtype=np.float32)
    r, c = np.repeat(np.arange(n, dtype=np.int32), per_row), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(r.size, dtype=np.float32), (r, c)), shape=(n, n_features))
    counts.sum_duplicates()
    return counts


def _texts(texts) -> list[str]:
    # ColumnTransformer hands a column over as a Series (or a one-column frame).
    if isinstance(texts, pd.DataFrame):
        texts = texts.iloc[:, 0]
    return [str(t) for t in texts]


def feature_frame(analyses: Sequence[Analysis]) -> pd.DataFrame:
    frame = pd.DataFrame([a.features for a in analyses], columns=list(FEATURES)).fillna(0.0)
    frame.insert(0, "text", [a.masked for a in analyses])
    return frame


def build_pipeline(calibration_folds) -> Pipeline:
    """``calibration_folds``: (train, test) index pairs grouped by template family, so calibration
    never scores a near-duplicate of what its classifier was fitted on."""
    features = ColumnTransformer([
        ("words", hashed_words(), "text"),
        ("chars", HashedCharNgrams(), "text"),
        ("cues", MaxAbsScaler(), list(FEATURES)),
    ], sparse_threshold=1.0)
    # ensemble=False: one linear model per head, calibrated on the grouped folds' predictions; a
    # fifth of the weights to store for hashed features, and the same calibration discipline.
    head = CalibratedClassifierCV(
        LogisticRegression(C=4.0, class_weight="balanced", max_iter=5000, solver="liblinear"),
        method="sigmoid", cv=calibration_folds, ensemble=False)
    return Pipeline([("features", features), ("heads", MultiOutputClassifier(head))])


def slim_for_storage(pipeline: Pipeline) -> Pipeline:
    """Drop what scoring never reads before the pipeline is written with skops: the vectorizers'
    ``stop_words_`` (every n-gram cut by min_df/max_features; sklearn documents it as safe to
    delete) and numpy ints in ``vocabulary_``, which skops stores one node each and loads slowly."""
    columns = pipeline.named_steps["features"]
    vectorizers = [v for v in (columns.named_transformers_["words"], getattr(columns.named_transformers_["chars"], "tfidf_", None))
                   if hasattr(v, "vocabulary_")]  # hashed features have no vocabulary at all
    for vectorizer in vectorizers:
        vectorizer.vocabulary_ = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    return pipeline
