"""The one exception of ``pipeline.kibana``."""


class KibanaError(Exception):
    """A Kibana or saved-objects problem, phrased as one line."""
