"""What a spider hands the item pipeline: the RawPost plus the key it is deduplicated on."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.schema import RawPost


@dataclass(frozen=True)
class Harvest:
    """``key`` is global where the native id is (a Reddit fullname on one host, a Bluesky at://
    URI, a Mastodon status's ActivityPub uri, a feed guid that is a URI), so two sources that reach
    the same post publish it once; RawPost.id stays per source (source + native id)."""

    post: RawPost
    key: str
