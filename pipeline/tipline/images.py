"""A tipster's picture made safe to keep and to show staff.

Judged by opening it with Pillow, never by its file name or the type the browser sent; its
pixels counted before anything is decoded (a small file can decode to gigabytes); then
re-encoded from its pixels alone, so nothing else it carried survives: EXIF (the phone's
location and model), XMP, comments, ICC profiles, extra animation frames.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.tipline.i18n import Message
from pipeline.tipline.threads import Attachment

log = logging.getLogger("threatline.tipline")

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # the only decoders Pillow may try on an upload
JPEG_QUALITY = 90
# A 40 MP picture decodes to about 160 MB, and its re-encoding needs as much again: two at a
# time keep a burst of uploads from taking the server's memory.
_SLOTS = threading.BoundedSemaphore(2)
_METADATA = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop")


class Refused(Exception):
    """The upload is not a picture the tip line keeps: ``reason`` tells the tipster why, ``code``
    the log."""

    def __init__(self, reason: Message, code: str):
        super().__init__(reason)
        self.reason, self.code = reason, code


def not_a_picture() -> Message:
    return Message("The file is not a picture the tip line can read. Send a PNG, JPEG, WebP or GIF picture.")


def clean(data: bytes, max_pixels: int) -> Attachment:
    """``data`` re-encoded without metadata, as PNG or JPEG; Refused if it is not a PNG, JPEG, WebP or GIF
    picture of at most ``max_pixels``. GIFs and animations keep their first frame."""
    with _SLOTS:
        try:
            with warnings.catch_warnings():
                # Pillow warns from 89 MP and refuses from 178 MP by itself; both are refusals here.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data), formats=FORMATS) as picture:
                    if picture.width * picture.height > max_pixels:
                        raise _too_many_pixels(max_pixels)
                    picture.load()
                    return _reencode(picture)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError):
            raise Refused(not_a_picture(), "not_a_picture") from None  # unreadable, truncated or damaged


def _too_many_pixels(limit: int) -> Refused:
    return Refused(Message("The picture has too many pixels: at most {limit} megapixels.",
                           limit=limit // 1_000_000), "too_many_pixels")


def _reencode(picture: Image.Image) -> Attachment:
    source = picture.format
    alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    # Upright as it was taken: the orientation lives in the EXIF that is about to go.
    upright = ImageOps.exif_transpose(picture)
    pixels = upright.convert("RGBA" if alpha else "RGB")
    pixels.info = {}  # every piece of metadata rides in .info: none is carried to the new file
    # Screenshots (PNG, GIF) and anything transparent stay lossless; photos stay JPEG-sized.
    as_png = alpha or source in ("PNG", "GIF")
    out = io.BytesIO()
    if as_png:
        pixels.save(out, "PNG")
    else:
        pixels.save(out, "JPEG", quality=JPEG_QUALITY)
    encoded = out.getvalue()
    with Image.open(io.BytesIO(encoded)) as check:
        # A future Pillow that carried metadata over would otherwise go unnoticed.
        if check.getexif() or any(key in check.info for key in _METADATA):
            log.error("a re-encoded picture still carried metadata; it was not kept")
            raise Refused(not_a_picture(), "metadata_left")
    return Attachment("image/png" if as_png else "image/jpeg", encoded)
