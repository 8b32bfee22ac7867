"""Tipster passphrases: generated once, kept only as a salted scrypt hash."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading

# Short, common, unambiguous words: a tipster may copy the passphrase by hand on a phone.
# 256 words x 6 = 48 bits; guessing also needs the tip code, and every guess costs a rate-limited
# scrypt on the server.
WORDS = """
acorn actor adult agent album alarm alley amber angle ankle apple apron arena arrow aspen atlas
attic award bacon badge bagel baker bamboo banjo barn basil basin beach beard bench berry bingo
birch bison blade blaze bloom board bonus boots brain brass bread brick bride brook brush bucket
bugle cabin cable cactus camel candy canoe canyon cargo carol carpet cedar chalk charm chess chief
chili cider cliff clock cloud clover coach cobra cocoa comet coral couch cover crane crayon creek
crown crumb curry daisy dance delta denim depot desk diary diner disco dock dolphin donut dragon
drum eagle easel ebony elbow ember empire engine fable falcon fancy feast fence ferry fiber field
flame flask fleet flute foam forest fossil fox frost fudge gable galaxy garden garlic gecko giant
ginger glove goose grape gravel guitar harbor harp hazel helmet honey hotel husky igloo index ivory
jacket jaguar jelly jewel jungle kayak kettle kiwi koala ladder lagoon lake lamp lemon lentil lilac
linen lizard llama lobster locket lotus lunar magnet mango maple marble meadow melon mint mirror
mitten moose mosaic motor muffin museum nectar needle noodle nutmeg oasis ocean olive onion opal
orbit otter oyster paddle panda parade parrot pasta peach pebble pepper piano pickle pilot pine
pixel planet plum pony poppy potato prism puzzle quail quartz quilt rabbit radar radio raven
ribbon river robin rocket rose ruby saddle salad salmon sandal satin scarf shell sierra silver
sketch sled sloth snail sonic spice spoon squid stamp star stone storm sugar summit sunny swan
taco tiger tulip walnut zebra
""".split()
WORD_COUNT = 6

# scrypt at 16 MiB, ~50 ms here: slow enough to make offline guessing costly if the file leaks.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
# Requests run in a pool of 40 threads; unbounded, a burst of submits or lookups would take
# 40 x 16 MiB at once. One hash per core is as fast and keeps memory flat.
_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def generate() -> str:
    return "-".join(secrets.choice(WORDS) for _ in range(WORD_COUNT))


def normalize(typed: str) -> str:
    """What the tipster typed, made comparable: case, spaces or dashes between words do not matter."""
    return "-".join(re.findall(r"[a-z]+", typed.lower()))


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def hash_passphrase(passphrase: str, salt: bytes) -> bytes:
    with _SLOTS:
        return hashlib.scrypt(normalize(passphrase).encode("utf-8"), salt=salt, n=_N, r=_R, p=_P,
                              maxmem=_MAXMEM, dklen=32)


def verify(passphrase: str, salt: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(hash_passphrase(passphrase, salt), expected)


# Hashing against this when a code is unknown makes "no such code" take as long as "wrong
# passphrase", so timing does not tell a guesser which codes exist.
_DUMMY_SALT = new_salt()
_DUMMY_HASH = hash_passphrase("unused", _DUMMY_SALT)


def burn_time(passphrase: str) -> None:
    verify(passphrase, _DUMMY_SALT, _DUMMY_HASH)
