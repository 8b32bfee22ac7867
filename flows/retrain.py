"""The `retrain-classifier` flow (DESIGN.md §3: retrain on demand): the analysts' labels from the
review console (and any labeled files) -> a challenger -> the promotion policy -> maybe a new
champion, which running classify stages pick up by themselves (ReloadingClassifier).

Run it once, without a deployment: ``python -m flows.retrain [--promote never]``, or from Python
``retrain_classifier(config_path=...)``. `threatline run` also serves it as the deployment
``retrain-classifier/retrain-on-demand`` (no schedule): ``prefect deployment run
retrain-classifier/retrain-on-demand`` starts a run. docs/retraining.md has the details.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger

from pipeline.config import load_settings
from pipeline.retraining import FUNCTIONAL, run_retrain


@flow(name="retrain-classifier", log_prints=False)
def retrain_classifier(config_path: str | None = None, label_files: list[str] | None = None, from_store: bool = True,
                       promote: str = "auto", by: str | None = None, functional_dir: str | None = None,
                       district_stream: bool = False) -> dict:
    """Train a challenger on the corpus plus labels, compare it with the champion, promote per the policy."""
    if promote not in ("auto", "never", "force"):
        raise ValueError(f"promote must be auto, never or force, not {promote!r}")
    logger = get_run_logger()
    # A forced promotion needs a person's name: no default for it (run_retrain refuses without).
    actor = by or (None if promote == "force" else "flow:retrain-classifier")
    report = run_retrain(load_settings(config_path), label_files=[Path(p) for p in label_files or []],
                         from_store=from_store, mode=promote, by=actor,
                         functional_dir=Path(functional_dir) if functional_dir else FUNCTIONAL,
                         district_stream=district_stream, log=logger.info)
    for warning in report.warnings:
        logger.warning(warning)
    logger.info("retrain: %s %s (champion before: %s); %s", report.version,
                "promoted" if report.promoted else "not promoted", report.champion_before,
                "; ".join(report.decision.reasons()))
    return report.as_dict()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Run the retrain-classifier flow once.")
    parser.add_argument("--config")
    parser.add_argument("--labels", action="append", default=[])
    parser.add_argument("--no-store", action="store_true", help="do not read labels from the review console's store")
    parser.add_argument("--promote", default="auto", choices=("auto", "never", "force"))
    parser.add_argument("--by")
    parser.add_argument("--district-stream", action="store_true",
                        help="train on the district's unflagged posts too (low weight) and shadow-run both models")
    args = parser.parse_args()
    print(json.dumps(retrain_classifier(config_path=args.config, label_files=args.labels, from_store=not args.no_store,
                                        promote=args.promote, by=args.by, district_stream=args.district_stream)))
