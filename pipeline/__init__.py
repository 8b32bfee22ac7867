"""threatline: notice credible threats against schools early, without drowning in false alarms."""

__version__ = "0.1.0"
