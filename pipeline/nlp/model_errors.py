"""Kept apart from model.py so the CLI can name the error without importing spaCy at start-up."""


class ModelError(Exception):
    """A model directory that is missing, tampered with or incomplete. One line, no traceback."""
