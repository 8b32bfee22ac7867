"""Hot reload: a running classifier follows models/CURRENT (pipeline/nlp/reloading.py), and a
classify stage running across a promotion scores later items with the new champion."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.config import DEFAULT_CONFIG, REPO_ROOT
from pipeline.nlp.registry import current_version, promote, versions
from pipeline.nlp.reloading import ReloadingClassifier
from pipeline.schema import RawPost, ScoredItem

SCHOOLS = DEFAULT_CONFIG.parent / "schools.yaml"
THREAT = "im bringing my dads gun to LHS tomorrow and shooting everyone in the quad"


@pytest.fixture(scope="module")
def shipped_pair(tmp_path_factory):
    """A registry holding copies of the two shipped versions (no training needed), v1 champion."""
    models = tmp_path_factory.mktemp("registry") / "models"
    older, newer = versions(REPO_ROOT / "models")[:2]
    for version in (older, newer):
        shutil.copytree(REPO_ROOT / "models" / version, models / version)
    return models, older, newer


@pytest.fixture
def registry(shipped_pair):
    models, older, newer = shipped_pair
    promote(models, older)
    (models / "promotions.jsonl").unlink(missing_ok=True)
    return models, older, newer


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_new_champion_is_loaded_at_the_first_check_after_it_is_promoted(registry):
    models, older, newer = registry
    clock = Clock()
    classifier = ReloadingClassifier(models, SCHOOLS, check_every_s=10, clock=clock)
    first = classifier.score(THREAT)
    assert classifier.version == older
    promote(models, newer)
    clock.now += 9  # not due yet: no file read, no reload
    classifier.score_many([THREAT])
    assert classifier.version == older
    clock.now += 1
    second = classifier.score(THREAT)
    assert classifier.version == newer and classifier.current.version == newer
    assert classifier.thresholds == classifier.current.thresholds  # the rest is the current model's
    assert first != second  # a different model really scored it


def test_a_champion_that_does_not_load_is_skipped_and_not_retried(registry, caplog):
    models, older, newer = registry
    broken = models / "v7-20990101"
    shutil.copytree(models / newer, broken)
    try:
        with (broken / "classifier.skops").open("ab") as f:
            f.write(b"\0")  # checksum mismatch
        clock = Clock()
        classifier = ReloadingClassifier(models, SCHOOLS, check_every_s=1, clock=clock)
        promote(models, "v7-20990101")
        clock.now += 1
        with caplog.at_level(logging.ERROR, logger="pipeline.nlp.reloading"):
            classifier.score(THREAT)
        assert classifier.version == older
        assert "v7-20990101 does not load" in caplog.text and f"still scoring with {older}" in caplog.text
        caplog.clear()
        clock.now += 1
        with caplog.at_level(logging.ERROR, logger="pipeline.nlp.reloading"):
            classifier.score(THREAT)
        assert caplog.text == ""  # the same broken version is not loaded again every check
        promote(models, newer)  # a fixed promotion is picked up
        clock.now += 1
        classifier.score(THREAT)
        assert classifier.version == newer
    finally:
        shutil.rmtree(broken)


def test_a_classify_stage_running_across_a_promotion_scores_later_items_with_the_new_champion(registry, settings):
    models, older, newer = registry
    settings = settings.model_copy(update={"classify": settings.classify.model_copy(
        update={"models_dir": models, "reload_check_s": 0})})

    def publish(rt, start):
        posts = [RawPost(source="forum", source_kind="page", native_id=f"p{i}", text=f"{THREAT} #{i}")
                 for i in range(start, start + 3)]
        rt.bus.publish([OutMessage(settings.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])

    with runtime(settings) as rt:
        rt.setup()
        publish(rt, 0)
        assert rt.runner("classify").run().consumed == 3
        promote(models, newer)  # meanwhile, an analyst promotes a challenger
        publish(rt, 3)
        assert rt.runner("classify").run().consumed == 3  # same runtime, same classifier object
        with rt.bus.consumer("test-reader", [settings.topic("items.scored")]) as reader:
            scored = [ScoredItem.from_bytes(m.value) for m in reader.poll(100, 2.0)]
    by_post = {item.text.rsplit("#", 1)[1]: item.model_version for item in scored}
    assert by_post == {"0": older, "1": older, "2": older, "3": newer, "4": newer, "5": newer}
    assert current_version(models) == newer
    assert json.loads((models / newer / "manifest.json").read_text())["version"] == newer
