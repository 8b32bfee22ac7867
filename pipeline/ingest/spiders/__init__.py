"""One spider per source kind; ``SPIDERS`` maps a kind to its class."""

from pipeline.ingest.spiders.bluesky import BlueskySpider
from pipeline.ingest.spiders.mastodon import MastodonSpider
from pipeline.ingest.spiders.page import PageSpider
from pipeline.ingest.spiders.reddit import RedditSpider
from pipeline.ingest.spiders.rss import FeedSpider

SPIDERS = {
    "rss": FeedSpider,
    "reddit": RedditSpider,
    "mastodon": MastodonSpider,
    "bluesky": BlueskySpider,
    "page": PageSpider,
}
