"""Errors the CLI turns into one line on stderr (exit 1) instead of a traceback."""


class ServiceError(Exception):
    """A process or server threatline depends on could not start or ended without its result."""
