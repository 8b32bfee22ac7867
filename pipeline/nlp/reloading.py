"""The champion, followed: a classifier that notices a new models/CURRENT and swaps models
between batches, so workers and long-running commands pick up a promotion or a rollback without
a restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.nlp.model import TrainedClassifier
from pipeline.nlp.model_errors import ModelError
from pipeline.nlp.registry import CURRENT, current_version
from pipeline.nlp.verdict import Verdict

log = logging.getLogger(__name__)


class ReloadingClassifier:
    """Scores with the champion; before a batch, at most every ``check_every_s``, reads
    models/CURRENT and loads the version it names if that changed.

    The check happens only at the start of ``score_many``, so a batch is scored by one model and
    ``version`` read after it names that model (what ``model_version`` records on each item).
    A champion that fails to load is logged and skipped: the old one keeps scoring, and that
    version is not retried until CURRENT changes again. Other attributes (``thresholds``,
    ``score_detailed``...) are the current model's."""

    def __init__(self, models_dir: Path, schools_file: Path, *, check_every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.models_dir = models_dir
        self.schools_file = schools_file
        self.check_every_s = check_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded = current_version(models_dir)
        self.current = TrainedClassifier.load(models_dir / self._loaded, schools_file)
        self._refused: str | None = None
        self._next_check = clock() + check_every_s

    @property
    def version(self) -> str:
        return self.current.version

    def refresh(self) -> bool:
        """Load a new champion if CURRENT changed and the check is due; True if it swapped."""
        with self._lock:
            now = self._clock()
            if now < self._next_check:
                return False
            self._next_check = now + self.check_every_s
            try:  # a few bytes: cheaper and surer than trusting mtimes across filesystems
                wanted = (self.models_dir / CURRENT).read_text(encoding="utf-8").strip()
            except OSError as exc:
                log.warning("cannot read %s: %s; keeping %s", self.models_dir / CURRENT, exc, self.version)
                return False
            if wanted in (self._loaded, self._refused):
                return False
            try:
                model = TrainedClassifier.load(self.models_dir / wanted, self.schools_file)
            except (ModelError, OSError) as exc:
                self._refused = wanted
                log.error("new champion %s does not load (%s); still scoring with %s", wanted, exc, self.version)
                return False
            log.info("champion changed: %s -> %s", self.version, model.version)
            self.current, self._loaded, self._refused = model, wanted, None
            return True

    def score(self, text: str) -> Verdict:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str], tips: Sequence[bool] = ()) -> list[Verdict]:
        self.refresh()
        return self.current.score_many(texts, tips)

    def __getattr__(self, name: str):
        if name == "current":  # not loaded (yet): no recursion through ourselves
            raise AttributeError(name)
        return getattr(self.current, name)
