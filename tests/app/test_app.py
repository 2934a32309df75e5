import io

import numpy as np
import pytest
from PIL import Image

from app import StartupError, create_app
from model.colorizer import Colorizer
from tests.app.conftest import image_bytes, post
from tests.conftest import synthetic_photo


def opened(response) -> Image.Image:
    image = Image.open(io.BytesIO(response.data))
    image.load()
    return image


def test_a_photo_comes_back_as_a_colorized_jpeg_of_its_size(client):
    response = post(client, image_bytes(synthetic_photo(1, (130, 90)).convert("L")))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    result = opened(response)
    assert result.format == "JPEG" and result.size == (130, 90) and result.mode == "RGB"
    assert 'filename="photo-color.jpg"' in response.headers["Content-Disposition"]


def test_png_format_size_and_quality_options(client, app):
    from model.formats import encode
    response = post(client, image_bytes(), format="png", size=64)
    assert response.status_code == 200 and response.mimetype == "image/png" and opened(response).format == "PNG"
    colorizer = app.extensions["colorizer"]
    with Image.open(io.BytesIO(image_bytes())) as upload:
        expected = {size: encode(colorizer(upload, size=size), "png") for size in (None, 64)}
    assert expected[64] != expected[None]
    assert response.data == expected[64]  # the size reached the network
    small, large = (post(client, image_bytes(), quality=q).data for q in (10, 95))
    assert len(small) < len(large)


def test_exif_orientation_is_applied(client):
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise to display
    response = post(client, image_bytes(synthetic_photo(2, (120, 60)), exif=exif.tobytes()))
    assert opened(response).size == (60, 120)


def test_the_model_is_loaded_once_not_per_request(tiny_weights, monkeypatch):
    calls = []
    original = Colorizer.load.__func__

    def counting_load(cls, *args, **kwargs):
        calls.append(args)
        return original(cls, *args, **kwargs)
    monkeypatch.setattr(Colorizer, "load", classmethod(counting_load))
    client = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights)}).test_client()
    for _ in range(3):
        assert post(client, image_bytes()).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert len(calls) == 1


BAD_UPLOADS = [
    ("no file", None, "image", 400, "No image was sent"),
    ("wrong field", b"x", "photo", 400, "field named 'image'"),
    ("empty", b"", "image", 400, "empty"),
    ("text", b"hello, I am not an image\n" * 20, "image", 415, "not an image we can read"),
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image", 415, "not an image"),
    ("truncated jpeg", "truncated", "image", 400, "damaged or truncated"),
]


@pytest.mark.parametrize("name,data,field,status,message", BAD_UPLOADS, ids=[case[0] for case in BAD_UPLOADS])
def test_bad_uploads_get_a_clear_json_error(client, name, data, field, status, message):
    if data == "truncated":
        whole = image_bytes(synthetic_photo(3, (300, 200)))
        data = whole[: len(whole) // 2]
    response = post(client, data, field=field)
    assert response.status_code == status, name
    assert response.is_json and message in response.json["error"]
    assert client.get("/healthz").status_code == 200


def test_an_empty_post_is_a_client_error(client):
    response = client.post("/colorize")
    assert response.status_code == 400 and "No image was sent" in response.json["error"]


def test_too_many_bytes_is_413(client):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), dtype=np.uint8))
    data = image_bytes(noise, "PNG")
    assert len(data) > 2 * 1024 * 1024
    response = post(client, data, filename="big.png")
    assert response.status_code == 413 and "limit is 2 MiB" in response.json["error"]


def test_a_decompression_bomb_is_refused_before_decoding(client):
    # a 40000 x 40000 PNG of one color compresses to a few hundred kilobytes but would decode to 4.8 GB
    import struct, zlib
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 40001 * 50)) + chunk(b"IEND", b"")
    response = post(client, bomb, filename="bomb.png")
    assert response.status_code == 413 and "too large" in response.json["error"]


def test_an_image_over_the_pixel_limit_is_413_with_its_size(client):
    response = post(client, image_bytes(Image.new("L", (2100, 2000)), "PNG"), filename="wide.png")
    assert response.status_code == 413 and "2100 x 2000 pixels" in response.json["error"]


@pytest.mark.parametrize("fields,message", [
    ({"size": 5}, "size must be a whole number of pixels from 32 to 1024"), ({"size": 5000}, "got '5000'"),
    ({"size": "big"}, "size must be a whole number"), ({"restore": "sometimes"}, "restore must be auto, on or off"),
    ({"format": "gif"}, "format must be jpeg or png"), ({"quality": 0}, "quality must be from"),
    ({"quality": 101}, "quality must be from"),
])
def test_parameters_out_of_range_are_422(client, fields, message):
    response = post(client, image_bytes(), **fields)
    assert response.status_code == 422 and message in response.json["error"]


def test_a_browser_form_post_gets_the_page_with_the_error_in_words(client):
    response = post(client, b"<b>not an image</b>", filename="<script>x</script>.png",
                    headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 415 and response.mimetype == "text/html"
    assert b"not an image we can read" in response.data and b"<script>x" not in response.data


@pytest.mark.parametrize("filename,download", [
    ('../../etc/"evil".jpg', "etc-color.jpg"),  # the form's own quoting ends the name at the second quote
    ("a;b c'd.png", "a_b_c_d-color.jpg"),
    ("x" * 5000 + ".jpg", "x" * 80 + "-color.jpg"),
    ("....", "photo-color.jpg"),
])
def test_the_download_name_never_carries_a_path_quotes_or_separators(client, filename, download):
    response = post(client, image_bytes(), filename=filename)
    assert response.headers["Content-Disposition"] == f'inline; filename="{download}"'


def test_a_windows_path_in_a_name_is_kept_as_letters_not_folders():
    # Sent in a form, backslashes are a matter of the form parser's escaping (werkzeug 3.1.8 and 3.1.9 differ):
    # what matters is that safe_stem turns any of them into a plain name.
    from app.views import safe_stem
    assert safe_stem("C:\\photos\\old.jpg") == "C__photos_old"
    assert safe_stem("C:photosold.jpg") == "C_photosold"


@pytest.mark.parametrize("filename,fallback,encoded", [
    ("фото бабушки.jpg", "photo-color.jpg", "%D1%84%D0%BE%D1%82%D0%BE_%D0%B1%D0%B0%D0%B1%D1%83%D1%88%D0%BA%D0%B8-color.jpg"),
    ("写真.jpg", "photo-color.jpg", "%E5%86%99%E7%9C%9F-color.jpg"),
    ("Crème brûlée.jpg", "Creme_brulee-color.jpg", "Cr%C3%A8me_br%C3%BBl%C3%A9e-color.jpg"),
])
def test_a_name_in_any_script_gets_an_ascii_fallback_and_its_utf8_form(client, filename, fallback, encoded):
    from urllib.parse import unquote
    disposition = post(client, image_bytes(), filename=filename).headers["Content-Disposition"]
    assert disposition == f"inline; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert disposition.isascii() and unquote(encoded).startswith(filename.rsplit(".")[0].replace(" ", "_"))


def test_uploads_are_never_spooled_to_disk(client, monkeypatch):
    import tempfile
    def forbidden(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, forbidden)
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (700, 700, 3), dtype=np.uint8))
    data = image_bytes(noise, "PNG")
    assert len(data) > 1024 * 1024  # well past werkzeug's 500 KB spooling threshold
    assert post(client, data, filename="big.png").status_code == 200


def test_healthz_names_the_model(client, tiny_weights):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"
    from model.weights import file_sha256
    assert response.json["model"]["sha256"] == file_sha256(tiny_weights)
    assert response.json["model"]["working_size"] == 48


def test_the_page_is_served_with_its_assets_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data and b'name="image"' in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
    assert b"<script>" not in page.data and b"style=" not in page.data  # nothing inline: the CSP forbids it
    for asset in ("/static/app.js", "/static/style.css", "/static/icon.svg"):
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()
    assert b"http://" not in page.data.replace(b"http://localhost/", b"")  # no assets from the internet


def test_unknown_routes_and_methods_answer_in_json(client):
    for response, status in ((client.get("/nope"), 404), (client.get("/colorize"), 405)):
        assert response.status_code == status and response.mimetype == "application/json"
        assert set(response.json) == {"error"} and len(response.json["error"]) > 10


def test_missing_weights_fail_startup_with_one_clear_message(tmp_path):
    with pytest.raises(StartupError, match="no weights file at .*COLORIZER_WEIGHTS"):
        create_app({"WEIGHTS": str(tmp_path / "missing.pt")})


def test_a_missing_damage_detector_fails_startup_not_the_first_repair(tiny_weights, tmp_path, monkeypatch):
    from model.damage import DamageDetector
    monkeypatch.setattr("app.shipped_detector", lambda: DamageDetector.load(tmp_path / "damage.pt"))
    with pytest.raises(StartupError, match="no damage detector at .*train one"):
        create_app({"WEIGHTS": str(tiny_weights)})


def test_a_bad_precision_setting_fails_startup_naming_that_setting(tiny_weights):
    with pytest.raises(StartupError, match="COLORIZER_PRECISION must be auto, float32 or bfloat16, got 'int8'"):
        create_app({"WEIGHTS": str(tiny_weights), "PRECISION": "int8"})


@pytest.mark.parametrize("precision", ["auto", "float32", "bfloat16"])
def test_each_documented_precision_starts(tiny_weights, monkeypatch, precision):
    monkeypatch.setenv("COLORIZER_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv("COLORIZER_PRECISION", precision)
    colorizer = create_app().extensions["colorizer"]
    assert colorizer.precision == (precision if precision != "auto" else colorizer.precision)
    assert colorizer.precision in ("float32", "bfloat16")


@pytest.mark.parametrize("name,value,message", [
    ("MAX_PIXELS", "lots", "COLORIZER_MAX_PIXELS must be a whole number of at least 1, got 'lots'"),
    ("MAX_HINTS", "-1", "COLORIZER_MAX_HINTS must be a whole number of at least 0, got -1"),
    ("DEFAULT_QUALITY", "200", "COLORIZER_DEFAULT_QUALITY must be from 1 to 100, got 200"),
])
def test_a_bad_setting_fails_startup_naming_that_setting(tiny_weights, monkeypatch, name, value, message):
    monkeypatch.setenv("COLORIZER_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv(f"COLORIZER_{name}", value)
    with pytest.raises(StartupError, match=message):
        create_app()


def test_settings_come_from_the_environment(tiny_weights, monkeypatch):
    monkeypatch.setenv("COLORIZER_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv("COLORIZER_MAX_PIXELS", "1234")
    app = create_app()
    assert app.config["MAX_PIXELS"] == 1234 and app.config["WEIGHTS"] == str(tiny_weights)
    response = post(app.test_client(), image_bytes(synthetic_photo(0, (100, 100))))
    assert response.status_code == 413


def test_the_size_menu_preselects_the_models_own_working_size(client):
    page = client.get("/").data.decode()
    assert '<option value="48" selected>' in page  # the tiny model's working size
    assert page.count(" selected>") == 1 and '<option value="32"' in page and '<option value="64"' in page
    assert page.count("<option") == 3  # one smaller, one larger: no sizes far above the model's own


# Every field the form takes, with values a person or a program might send by mistake or on purpose: garbage,
# huge, negative, NaN, other scripts' digits and letters, empty. Each must get an answer, 200 or a 4xx, never a 500.
ODD_TEXT = ["", " ", "garbage", "-1", "0", "nan", "NaN", "inf", "-inf", "1e309", "9" * 5000, "١٢٨", "１.５", "ü",
            "\u202e", "0x40", "64.0", "null", "[]", "{}", "true"]
ODD_VALUES = {
    "size": ODD_TEXT + ["32", "1025"],
    "vividness": ODD_TEXT + ["2", "2.0000001", "-0"],
    "format": ODD_TEXT + ["PNG", "jpg", "gif", "png\x00"],
    "quality": ODD_TEXT + ["1", "100", "101"],
    "restore": ODD_TEXT + ["auto", "ON", "off ", "always"],
    "hints": ODD_TEXT + [
        "[" * 8000, "[" * 4000 + "]" * 4000, '"text"', "[null]", "[1]",
        '[{"x": 1e400, "y": 1, "color": "#c02020"}]', '[{"x": 1' + "0" * 4400 + ', "y": 1, "color": "#c02020"}]',
        '[{"x": 123456789012345678901234567890, "y": 1, "color": "#c02020"}]',
        '[{"x": -1, "y": 1, "color": "#c02020"}]', '[{"x": true, "y": 1, "color": "#c02020"}]',
        '[{"x": 1, "y": 1, "color": null}]', '[{"x": 1, "y": 1, "color": "#ｃ02020"}]',
        '[{"x": 1, "y": 1, "color": "#c02020", "frame": "x"}]', '[{"x": 1, "y": 1, "color": "#c02020"}]',
        '[{"x": 1, "y": 1, "color": "#c02020"}, {"x": 30, "y": 20, "color": "#2040c0"}]',
    ],
}
ODD_PHOTO = image_bytes(synthetic_photo(40, (40, 30)))


@pytest.fixture(scope="module", params=["tiny_weights", "format1_weights", "bins_weights"])
def any_client(request):
    """The app on each kind of weights file it loads: format 2 (hints), format 1 (no hint layer), a bins head."""
    weights = request.getfixturevalue(request.param)
    return create_app({"TESTING": True, "WEIGHTS": str(weights)}).test_client()


@pytest.mark.parametrize("field", list(ODD_VALUES))
def test_no_value_of_any_field_gets_a_500_from_any_weights(any_client, field):
    answers = {}
    for value in ODD_VALUES[field]:
        response = post(any_client, ODD_PHOTO, **{field: value})
        answers[value[:30]] = response.status_code
        assert response.status_code in (200, 422), (field, value[:30], response.get_json())
        if response.status_code == 422:
            message = response.json["error"]
            assert message.startswith(field) and len(message) < 300, message  # names the field, and is short
    assert 200 in answers.values() and 422 in answers.values(), answers  # both answers occur: values were read
