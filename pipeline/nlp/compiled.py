"""The fitted sklearn pipeline, flattened for scoring: the same numbers as ``predict_proba`` at a
fraction of the per-batch cost.

sklearn validates inputs at every layer (ColumnTransformer, CalibratedClassifierCV, each fold's
classifier and calibrator); for batches of a few hundred short posts that bookkeeping costs more
than the arithmetic. A calibrated linear head is sigmoid(a * (w.x + b) + c) averaged over folds, so
all heads and folds fit in one sparse matrix product. Built from the loaded skops model, never
persisted: the registry keeps the plain sklearn pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.pipeline import Pipeline

from pipeline.nlp.analyzer import FEATURES, Analysis
from pipeline.nlp.features import HEADS


class CompiledPipeline:
    def __init__(self, pipeline: Pipeline):
        columns = pipeline.named_steps["features"]
        parts = {name: (transformer, cols) for name, transformer, cols in columns.transformers_ if name != "remainder"}
        self._order = [name for name, _, _ in columns.transformers_ if name != "remainder"]
        if set(self._order) != {"words", "chars", "cues"}:
            raise ValueError(f"unexpected feature blocks {self._order}")
        self._words, self._chars = parts["words"][0], parts["chars"][0]
        scaler, cue_columns = parts["cues"]
        self._cue_index = [FEATURES.index(c) for c in cue_columns]
        scale = np.asarray(scaler.scale_, dtype=np.float64)
        self._cue_scale = np.where(scale == 0, 1.0, scale)

        weights, intercepts, slopes, offsets, head_of = [], [], [], [], []
        for h, head in enumerate(pipeline.named_steps["heads"].estimators_):
            for fold in head.calibrated_classifiers_:
                (calibrator,) = fold.calibrators
                weights.append(fold.estimator.coef_.ravel())
                intercepts.append(float(fold.estimator.intercept_[0]))
                slopes.append(calibrator.a_)
                offsets.append(calibrator.b_)
                head_of.append(h)
        self._weights = np.asarray(weights, dtype=np.float64).T  # features x (heads * folds)
        self._intercepts = np.asarray(intercepts)
        self._slopes, self._offsets = np.asarray(slopes), np.asarray(offsets)
        # averages each head's folds: (heads * folds) x heads
        one_hot = np.eye(len(HEADS))[head_of]
        self._fold_mean = one_hot / one_hot.sum(axis=0)
        # each head's linear weights averaged over its folds: what explains a score
        self.head_weights = dict(zip(HEADS, (self._weights @ self._fold_mean).T))

    def features(self, analyses: Sequence[Analysis]) -> sp.csr_matrix:
        texts = [a.masked for a in analyses]
        cues = np.array([[a.features.get(name, 0.0) for name in FEATURES] for a in analyses], dtype=np.float64)
        blocks = {"words": self._words.transform(texts), "chars": self._chars.transform(texts),
                  "cues": sp.csr_matrix(cues[:, self._cue_index] / self._cue_scale)}
        return sp.hstack([blocks[name] for name in self._order], format="csr")

    def probabilities(self, features: sp.csr_matrix) -> dict[str, np.ndarray]:
        decision = features @ self._weights + self._intercepts
        calibrated = expit(-(self._slopes * decision + self._offsets))
        per_head = calibrated @ self._fold_mean
        return {h: per_head[:, i] for i, h in enumerate(HEADS)}
