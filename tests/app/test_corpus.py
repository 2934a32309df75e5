"""A corpus of odd-but-valid and invalid or hostile uploads: each gets the right answer, and the app stays healthy."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from model.color import rgb_to_lab_np
from tests.app.conftest import image_bytes, post
from tests.conftest import synthetic_photo

PHOTO = synthetic_photo(21, (160, 120))


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes(PHOTO, "JPEG", exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [synthetic_photo(i, (80, 60)).convert("P") for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def sixteen_bit_png() -> bytes:
    gray = np.asarray(PHOTO.convert("L"), dtype=np.uint16) * 257
    return image_bytes(Image.fromarray(gray), "PNG")


VALID = {  # name: (bytes, filename, expected size)
    "grayscale": (image_bytes(PHOTO.convert("L")), "gray.jpg", (160, 120)),
    "rgba png": (image_bytes(PHOTO.convert("RGBA"), "PNG"), "alpha.png", (160, 120)),
    "palette gif": (image_bytes(PHOTO.convert("P"), "GIF"), "palette.gif", (160, 120)),
    "animated gif (first frame)": (animated_gif(), "moving.gif", (80, 60)),
    "cmyk jpeg": (image_bytes(PHOTO.convert("CMYK"), "JPEG"), "cmyk.jpg", (160, 120)),
    "16-bit png": (sixteen_bit_png(), "deep.png", (160, 120)),
    "webp": (image_bytes(PHOTO, "WEBP"), "photo.webp", (160, 120)),
    "avif": (image_bytes(PHOTO, "AVIF"), "photo.avif", (160, 120)),
    "heic (iPhone)": (image_bytes(PHOTO, "HEIF"), "IMG_0001.HEIC", (160, 120)),
    "tiff": (image_bytes(PHOTO, "TIFF"), "scan.tif", (160, 120)),
    "bmp": (image_bytes(PHOTO, "BMP"), "old.bmp", (160, 120)),
    "progressive jpeg": (image_bytes(PHOTO, "JPEG", progressive=True), "prog.jpg", (160, 120)),
    "1x1": (image_bytes(Image.new("L", (1, 1), 90), "PNG"), "dot.png", (1, 1)),
    "4000x8 strip": (image_bytes(PHOTO.resize((4000, 8)), "PNG"), "strip.png", (4000, 8)),
    "exif rotated": (exif_rotated(), "phone.jpg", (120, 160)),
    "upper-case extension": (image_bytes(PHOTO), "PHOTO.JPEG", (160, 120)),
    "wrong extension": (image_bytes(PHOTO, "PNG"), "actually-a-png.jpg", (160, 120)),
}


@pytest.mark.parametrize("name", list(VALID))
def test_odd_but_valid_images_are_colorized(client, name):
    data, filename, size = VALID[name]
    response = post(client, data, filename=filename)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.data)) as result:
        assert result.format == "JPEG" and result.mode == "RGB" and result.size == size
    assert client.get("/healthz").status_code == 200


def test_sixteen_bit_lightness_is_scaled_not_clipped(client):
    response = post(client, sixteen_bit_png(), filename="deep.png", format="png")
    with Image.open(io.BytesIO(response.data)) as result:
        ours = rgb_to_lab_np(np.asarray(result))[..., 0]
    expected = rgb_to_lab_np(np.asarray(PHOTO.convert("L").convert("RGB")))[..., 0]
    assert np.abs(ours - expected).mean() < 0.5  # clipping to 8 bits would turn nearly all of it white


def declared_png(width: int, height: int) -> bytes:
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1) * 4))
            + chunk(b"IEND", b""))


def truncated_jpeg() -> bytes:
    whole = image_bytes(synthetic_photo(22, (400, 300)))
    return whole[: len(whole) // 3]


INVALID = {  # name: (bytes or None, filename, field, status)
    "no file": (None, "x.jpg", "image", 400),
    "wrong field name": (image_bytes(PHOTO), "photo.jpg", "file", 400),
    "empty file": (b"", "empty.jpg", "image", 400),
    "plain text": (b"Dear diary, today I colorized nothing.\n" * 10, "diary.txt", "image", 415),
    "html named png": (b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", "page.png",
                       "image", 415),
    "svg named png": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>', "v.png",
                      "image", 415),
    "pdf": (b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF", "doc.pdf", "image", 415),
    "truncated jpeg": (truncated_jpeg(), "cut.jpg", "image", 400),
    "png declaring 40000x40000": (declared_png(40000, 40000), "bomb.png", "image", 413),
    "png declaring 3000x3000 (over the limit)": (declared_png(3000, 3000), "big.png", "image", 413),
    "over the byte limit": (b"\xff\xd8\xff" + b"\0" * (3 * 1024 * 1024), "huge.jpg", "image", 413),
    # under the pixel limit, but longer than a JPEG result can be (65,535 a side)
    "1x100000 png": (image_bytes(Image.new("L", (1, 100_000), 90), "PNG"), "line.png", "image", 413),
    "65501x30 png": (image_bytes(Image.new("L", (65_501, 30), 90), "PNG"), "wide.png", "image", 413),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_or_hostile_uploads_get_a_4xx_with_a_json_error(client, name):
    data, filename, field, status = INVALID[name]
    response = post(client, data, filename=filename, field=field)
    assert response.status_code == status
    assert response.is_json and len(response.json["error"]) > 10
    assert "<" not in response.json["error"]  # nothing of the upload is reflected back
    assert client.get("/healthz").status_code == 200
