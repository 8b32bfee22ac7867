"""A picture with a tip or follow-up: judged by opening it, re-encoded without metadata, refused
without losing the tip, kept only in the thread store and gone with the thread."""

from __future__ import annotations

import io
import os
import random
import sqlite3
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from PIL import ExifTags, Image
from tipline_server import serving

from pipeline.schema import Tip
from pipeline.tipline import images
from pipeline.tipline.retention import purge_expired
from pipeline.tipline.threads import Attachment, SqliteThreadStore

TEXT = "He said he'd bring it Friday; screenshot of the group chat attached"
MAKER = "TipsterPhoneMaker-77"


def jpeg_with_gps(size=(64, 48)) -> bytes:
    """A phone photo as phones save it: maker, orientation, and where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKER
    exif[ExifTags.Base.Orientation] = 6  # taken sideways: shown rotated 90 degrees
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (40.0, 26.0, 46.0),
                                  ExifTags.GPS.GPSLongitudeRef: "W", ExifTags.GPS.GPSLongitude: (79.0, 58.0, 56.0)}
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "JPEG", exif=exif, comment=b"home address in a comment")
    return out.getvalue()


def png(size=(40, 30), noise=False) -> bytes:
    picture = Image.new("RGB", size, "blue")
    if noise:  # incompressible: its re-encoded bytes are unlike anything else in a file
        rng = random.Random(7)
        picture.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])])
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, a few hundred bytes long."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def submit(tipline, picture: bytes | None, name="screenshot.png", kind="image/png", message=TEXT, lang="en"):
    files = {"message": (None, message)}
    if picture is not None:
        files["attachment"] = (name, picture, kind)
    return tipline.http.post(f"/?lang={lang}", files=files)


def code_of(page: str) -> str:
    return page.split('<p class="secret">')[1].split("<")[0]


def stored_pictures(tipline) -> int:
    with sqlite3.connect(tipline.threads.path) as db:
        return db.execute("SELECT count(*) FROM thread_attachments").fetchone()[0]


def test_a_photo_loses_its_location_and_every_other_piece_of_metadata(tipline):
    sent = jpeg_with_gps()
    with Image.open(io.BytesIO(sent)) as original:  # the test's photo does carry all of it
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo) and original.info["comment"]
    r = submit(tipline, sent, name="IMG_0042.jpg", kind="image/jpeg")
    assert r.status_code == 201 and "Your picture was attached." in r.text
    code = code_of(r.text)
    picture = tipline.threads.get_attachment(code, 1)
    assert picture.media_type == "image/jpeg"
    with Image.open(io.BytesIO(picture.data)) as kept:
        assert kept.format == "JPEG" and kept.size == (48, 64)  # upright, as the photo was taken
        assert not kept.getexif() and not kept.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "comment", "icc_profile", "xmp"} & set(kept.info)
    assert MAKER.encode() not in picture.data and b"home address" not in picture.data
    # The tip on the bus carries the words and nothing of the picture.
    [msg] = tipline.raw_tips()
    tip = Tip.from_bytes(msg.value)
    assert tip.message == TEXT and len(msg.value) < 2000 and b"\xff\xd8" not in msg.value
    assert "attachment" not in msg.value.decode()


@pytest.mark.parametrize("fmt, mode, kept_as", [("PNG", "RGB", "image/png"), ("PNG", "RGBA", "image/png"),
                                                ("GIF", "P", "image/png"), ("WEBP", "RGB", "image/jpeg"),
                                                ("JPEG", "CMYK", "image/jpeg")])
def test_each_kind_of_picture_is_reencoded(fmt, mode, kept_as):
    out = io.BytesIO()
    frames = [Image.new(mode, (20, 10)), Image.new(mode, (20, 10), 1)]
    frames[0].save(out, fmt, **({"save_all": True, "append_images": frames[1:]} if fmt == "GIF" else {}))
    picture = images.clean(out.getvalue(), 1_000_000)
    assert picture.media_type == kept_as
    with Image.open(io.BytesIO(picture.data)) as kept:
        assert kept.size == (20, 10) and getattr(kept, "n_frames", 1) == 1  # a GIF keeps its first frame


@pytest.mark.parametrize("name, kind, body", [
    ("screenshot.png", "image/png", b"<!doctype html><script>alert(1)</script>"),  # HTML named .png
    ("chat.jpg", "image/jpeg", png()[:60]),                                          # cut off
    ("doc.png", "image/png", b"%PDF-1.7\n" + os.urandom(500)),
    ("vector.png", "image/png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
])
def test_a_file_that_is_not_a_picture_is_refused_and_the_tip_still_sent(tipline, name, kind, body):
    r = submit(tipline, body, name=name, kind=kind)
    assert r.status_code == 201 and "Your tip was sent, but the picture was not attached." in r.text
    assert "The file is not a picture the tip line can read." in r.text and 'role="alert"' in r.text
    thread = tipline.threads.get(code_of(r.text))
    assert thread.messages[0].text == TEXT and thread.messages[0].attachment is None
    assert stored_pictures(tipline) == 0
    assert Tip.from_bytes(tipline.raw_tips()[0].value).message == TEXT


def test_an_oversized_picture_is_refused_and_the_tip_still_sent(rt, tmp_path):
    with serving(rt, tmp_path, attachment_max_bytes=1024 * 1024) as t:
        r = submit(t, png(noise=True)[:100] + os.urandom(1024 * 1024 + 1), lang="es")
        assert r.status_code == 201 and "Tu reporte se envió, pero la imagen no se adjuntó." in r.text
        assert "La imagen pesa más de 1 MB." in r.text
        assert t.threads.get(code_of(r.text)).messages[0].text == TEXT and stored_pictures(t) == 0
        # Far past the limit (a video, say) the request itself is refused, before anything is kept.
        r = submit(t, os.urandom(6 * 1024 * 1024))
        assert r.status_code == 413 and "A picture may be at most 1 MB." in r.text and "tel:911" in r.text
        assert t.threads.count() == 1


@pytest.mark.parametrize("picture, limit", [
    (bomb(10_000, 10_000), None),        # 100 MP: past the default 40 MP (and Pillow's own warning)
    (bomb(30_000, 30_000), None),        # 900 MP: past what Pillow itself refuses
    (png((1200, 1000)), 1_000_000),      # a real picture over a configured limit
])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(rt, tmp_path, picture, limit):
    assert len(picture) < 20_000
    changes = {"attachment_max_pixels": limit} if limit else {}
    with serving(rt, tmp_path, **changes) as t:
        r = submit(t, picture)
        assert r.status_code == 201 and "The picture has too many pixels" in r.text
        assert t.threads.get(code_of(r.text)).messages[0].text == TEXT and stored_pictures(t) == 0


def test_when_the_form_comes_back_the_words_are_kept_and_the_picture_asked_for_again(tipline):
    r = tipline.http.post("/", files={"message": (None, ""), "when_where": (None, "gym, 3rd period"),
                                      "attachment": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and 'value="gym, 3rd period"' in r.text
    assert 'id="attachment-error">Choose the picture again' in r.text
    r = tipline.http.post("/", files={"message": (None, "x" * 5001), "attachment": ("a.png", b"<html>", "image/png")})
    assert r.status_code == 422 and "x" * 5001 in r.text and 'id="attachment-error">The file is not a picture' in r.text
    assert tipline.threads.count() == 0 and stored_pictures(tipline) == 0


def test_no_picture_and_an_empty_file_box_are_the_same(tipline):
    r = tipline.http.post("/", files={"message": (None, TEXT), "attachment": ("", b"", "application/octet-stream")})
    assert r.status_code == 201 and "picture" not in r.text
    assert tipline.threads.get(code_of(r.text)).messages[0].attachment is None


def test_a_follow_up_carries_a_picture_too(tipline):
    r = submit(tipline, None)
    code, phrase = [part.split("<")[0] for part in r.text.split('<p class="secret">')[1:]]
    follow = tipline.http.post("/check/followup?lang=en", files={
        "code": (None, code), "passphrase": (None, phrase), "message": (None, "here is the chat"),
        "attachment": ("chat.webp", png(), "image/webp")})
    assert follow.status_code == 201 and "Your picture was attached." in follow.text
    assert follow.text.count("A picture was sent with this message.") == 1
    assert tipline.threads.get(code).messages[1].attachment == "image/png"
    assert tipline.threads.get_attachment(code, 2).media_type == "image/png"
    bad = tipline.http.post("/check/followup", files={
        "code": (None, code), "passphrase": (None, phrase), "message": (None, "and this"),
        "attachment": ("x.png", b"GIF89a not really", "image/png")})
    assert bad.status_code == 201 and "Your message was sent, but the picture was not attached." in bad.text
    assert [m.attachment for m in tipline.threads.get(code).messages] == [None, "image/png", None]
    [_, first_follow, _] = tipline.raw_tips(expect=3)
    assert Tip.from_bytes(first_follow.value).message == "here is the chat" and b"PNG" not in first_follow.value


def test_a_tip_the_bus_refused_leaves_no_picture_behind(tipline):
    def publish(messages):
        raise ConnectionError("bus down")

    tipline.rt.bus.publish = publish
    r = submit(tipline, png())
    assert r.status_code == 503 and 'id="attachment-error">Choose the picture again' in r.text
    assert tipline.threads.count() == 0 and stored_pictures(tipline) == 0


def test_the_picture_goes_with_its_thread_on_disk_too(tmp_path):
    now = datetime(2026, 1, 5, tzinfo=UTC)
    store = SqliteThreadStore(tmp_path / "threads.sqlite3", clock=lambda: now)
    picture = images.clean(png((64, 64), noise=True), 1_000_000)
    store.create("AAAAAAAAAA", "tip-a", b"s" * 16, b"h" * 32, None, "first", picture)
    store.add_message("AAAAAAAAAA", "tipster", "second", Attachment("image/png", picture.data[::-1]))
    store.remove_message("AAAAAAAAAA", 2)  # the undo of a follow-up the bus refused
    assert store.get_attachment("AAAAAAAAAA", 2) is None and store.get_attachment("AAAAAAAAAA", 1) == picture
    assert purge_expired(store, 90, now=now + timedelta(days=91)) == 1
    assert store.get_attachment("AAAAAAAAAA", 1) is None
    store.close()
    marker = picture.data[len(picture.data) // 2:][:64]  # from the middle of the noise
    for path in tmp_path.glob("threads.sqlite3*"):
        assert marker not in path.read_bytes(), path


def test_a_thread_file_of_the_first_schema_gains_pictures(tmp_path):
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE threads (code TEXT PRIMARY KEY, tip_id TEXT NOT NULL UNIQUE, salt BLOB NOT NULL,
                passphrase_hash BLOB NOT NULL, status TEXT NOT NULL, school TEXT, created_at TEXT NOT NULL,
                last_message_at REAL NOT NULL);
            CREATE TABLE thread_messages (code TEXT NOT NULL REFERENCES threads (code) ON DELETE CASCADE,
                seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL,
                PRIMARY KEY (code, seq));
            INSERT INTO threads VALUES ('AAAAAAAAAA', 'tip-a', x'00', x'00', 'received', NULL, '2026-01-05', 0);
            INSERT INTO thread_messages VALUES ('AAAAAAAAAA', 1, 'tipster', 'kept', '2026-01-05');
            PRAGMA user_version = 1;""")
    store = SqliteThreadStore(path)
    try:
        assert store.get("AAAAAAAAAA").messages[0].text == "kept"
        store.add_message("AAAAAAAAAA", "tipster", "with a picture", Attachment("image/png", png()))
        assert store.get_attachment("AAAAAAAAAA", 2).data == png()
    finally:
        store.close()
