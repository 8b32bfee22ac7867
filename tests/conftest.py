"""Session-scoped stand-in servers (Tansu for Kafka, osmem for Elasticsearch) and shared fixtures."""

from fixtures_kafka import *  # noqa: F401,F403
from fixtures_search import *  # noqa: F401,F403
from fixtures_pipeline import *  # noqa: F401,F403
