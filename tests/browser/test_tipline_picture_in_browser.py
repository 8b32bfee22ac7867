"""A student switches the tip line to Spanish and sends a tip with a photo from a real browser:
the language stays on every page, and the photo is kept without its location."""

from __future__ import annotations

import io

from PIL import ExifTags, Image
from playwright.sync_api import expect

from pipeline.bootstrap import runtime
from pipeline.tipline import create_app
from pipeline.tipline.server import in_background
from pipeline.tipline.threads import SqliteThreadStore


def photo_with_location() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (40.0, 26.0, 46.0)}
    out = io.BytesIO()
    Image.new("RGB", (80, 60), "orange").save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_tip_in_spanish_with_a_photo(settings, tmp_path, open_page, screenshot):
    page = open_page()
    threads = SqliteThreadStore(tmp_path / "threads.sqlite3")
    with runtime(settings) as rt:
        rt.bus.setup([settings.topic("tips.raw")])
        with in_background(create_app(rt, threads=threads), name="the tip line") as url:
            page.goto(url + "/")
            page.get_by_role("link", name="Español").click()
            expect(page.locator("h1")).to_have_text("Reporta un problema de seguridad")
            assert page.locator("html").get_attribute("lang") == "es"
            expect(page.locator(".banner")).to_contain_text("oprime 2 para español")
            page.get_by_label("Qué pasó (obligatorio)", exact=True).fill("Vi esto en el chat del grupo")
            page.get_by_label("Una captura de pantalla o una foto (opcional)", exact=True).set_input_files(
                files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": photo_with_location()}])
            page.get_by_role("button", name="Enviar reporte").click()

            expect(page.locator("h1")).to_have_text("Gracias. Recibimos tu reporte.")
            expect(page.locator(".notice")).to_have_text("Tu imagen se adjuntó. El personal la va a ver.")
            screenshot(page, "receipt-es")
            code, passphrase = page.locator(".secret").all_inner_texts()
            page.locator("main").get_by_role("link", name="Ver las respuestas a un reporte").click()
            page.get_by_label("Código del reporte", exact=True).fill(code)
            page.get_by_label("Frase secreta", exact=True).fill(passphrase)
            page.get_by_role("button", name="Ver mi reporte").click()
            expect(page.locator(".msg.you .hint")).to_have_text("Con este mensaje se envió una imagen.")
            assert page.locator("html").get_attribute("lang") == "es"
    try:
        kept = threads.get_attachment(code, 1)
        with Image.open(io.BytesIO(kept.data)) as picture:
            assert picture.size == (80, 60) and not picture.getexif()
    finally:
        threads.close()
