"""The anonymous two-way tip line: form, JSON API, passphrase-protected threads (DESIGN.md §4)."""

from pipeline.tipline.app import TiplineOptions, create_app

__all__ = ["TiplineOptions", "create_app"]
