"""Train on a small slice of the real corpus into a temporary registry: the files a model
version must have, a loadable champion, and refusal of tampered or foreign model files."""

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io

from pipeline.config import DEFAULT_CONFIG
from pipeline.nlp.corpus import read_jsonl, write_jsonl
from pipeline.nlp.features import HEADS, feature_frame
from pipeline.nlp.model import MODEL_FILE, TrainedClassifier
from pipeline.nlp.model_errors import ModelError
from pipeline.nlp.registry import current_version, next_version, promote, versions
from pipeline.nlp.train import ConfigFiles, train

CONFIG = DEFAULT_CONFIG.parent
CORPUS = CONFIG.parent / "models" / "data" / "corpus.jsonl"
FILES = ConfigFiles(CONFIG / "lexicons", CONFIG / "cues.yaml", CONFIG / "identity_terms.yaml", CONFIG / "schools.yaml")


UNIQUE_NAME = "Quillbert Zyvanowski"
FREE_PREFIXES = ("bg-", "pos-", "neg-paired")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    rows = read_jsonl(CORPUS)
    # A quarter of the template families: every label and split, a few seconds to fit. The
    # free-written families (models/data/free) are left out: a quarter of them skews the slice
    # towards background, and the slice is here to test the registry, not the corpus.
    families = sorted({r["family"] for r in rows if not r["family"].startswith(FREE_PREFIXES)})
    keep = set(families[::4])
    # A label about a person with a unique name, as an analyst's label would be: nothing of it may
    # reach the model files (hashed n-grams store no tokens; spaCy's string store is saved fresh).
    named = [{"id": f"named-{i}", "family": "named-person", "kind": "label:threat", "split": "train", "text": text,
              "threat": 1, "self_harm": 0, "bullying": 0}
             for i, text in enumerate([f"{UNIQUE_NAME} is getting shot at the bus loop tomorrow",
                                       f"gonna stab {UNIQUE_NAME} after school, watch",
                                       f"i hope {UNIQUE_NAME} dies"])]
    write_jsonl([r for r in rows if r["family"] in keep] + named, root / "small.jsonl")
    models = root / "models"
    version = next_version(models)
    metrics = train(root / "small.jsonl", FILES, models / version, version,
                    functional_dir=CONFIG.parent / "tests" / "functional" / "cases", log=lambda _: None)
    promote(models, version)
    return models, version, metrics


def test_a_version_has_everything_the_registry_promises(trained):
    models, version, metrics = trained
    names = {p.name for p in (models / version).iterdir()}
    assert {"spacy", MODEL_FILE, "metrics.json", "model_card.md", "pr_curve.png", "confusion.png", "manifest.json"} <= names
    assert (models / version / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    card = (models / version / "model_card.md").read_text()
    for section in ("Intended use", "Test metrics per head", "Functional suite", "Known failure modes"):
        assert section in card
    assert versions(models) == [version] and current_version(models) == version
    for head, t in metrics["thresholds"].items():
        assert 0 < t["P3"] <= t["P2"] < t["P1"] < 1, head


def test_no_name_from_the_training_texts_reaches_the_model_files(trained):
    import zipfile

    models, version, _ = trained
    needles = [w.lower().encode() for w in UNIQUE_NAME.split()]
    for path in (models / version).rglob("*"):
        if not path.is_file():
            continue
        blobs = [path.read_bytes()]
        if zipfile.is_zipfile(path):  # the skops file is deflated: look inside every member
            with zipfile.ZipFile(path) as z:
                blobs += [z.read(name) for name in z.namelist()]
        for blob in blobs:
            assert not any(n in blob.lower() for n in needles), f"{path} holds a name from the training texts"


def test_the_champion_loads_and_explains(trained):
    models, version, _ = trained
    model = TrainedClassifier.load(models / current_version(models), FILES.schools_file)
    verdict = model.score("im bringing my dads gun to LHS tomorrow and shooting everyone in the quad")
    assert verdict.threat_score > 0.5 and verdict.school == "Lincoln High School"
    assert any("Mentions Lincoln High School" in line for line in verdict.explanation)
    # a quarter of the corpus is not enough to promise "none" on chatter, but it must rank it lower
    assert model.score("see you at lunch").threat_score < verdict.threat_score / 2


def test_a_tampered_model_file_is_refused(trained, tmp_path):
    models, version, _ = trained
    copy = tmp_path / version
    import shutil

    shutil.copytree(models / version, copy)
    with (copy / MODEL_FILE).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="checksum"):
        TrainedClassifier.load(copy, FILES.schools_file)


def test_a_model_file_with_foreign_types_is_refused(trained, tmp_path):
    models, version, _ = trained
    copy = tmp_path / version
    import shutil

    shutil.copytree(models / version, copy)
    skops.io.dump({"payload": Path("/etc/passwd")}, copy / MODEL_FILE)  # a type no model needs
    manifest = json.loads((copy / "manifest.json").read_text())
    from pipeline.nlp.model import sha256_file

    manifest["sha256"][MODEL_FILE] = sha256_file(copy / MODEL_FILE)  # even with a matching checksum
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="does not trust"):
        TrainedClassifier.load(copy, FILES.schools_file)


def test_current_pointing_nowhere_is_one_clear_error(tmp_path):
    (tmp_path / "CURRENT").write_text("v9-20990101\n")
    with pytest.raises(ModelError, match="does not exist"):
        current_version(tmp_path)


def test_compiled_scoring_equals_the_sklearn_pipeline(trained):
    models, version, _ = trained
    model = TrainedClassifier.load(models / version, FILES.schools_file)
    texts = [r["text"] for r in read_jsonl(CORPUS)[::25]] + ["", "ok", "LHS LHS LHS 🔫🔫"]
    analyses = model.analyzer.analyze(texts)
    reference = model.pipeline.named_steps["features"].transform(feature_frame(analyses))
    fast, features = model.probabilities(analyses)
    assert abs(features - reference).max() < 1e-6
    for head, estimator in zip(HEADS, model.pipeline.named_steps["heads"].estimators_):
        assert np.allclose(fast[head], estimator.predict_proba(reference)[:, 1], rtol=0, atol=1e-9), head
