"""POST /colorize with colour hints and vividness: what they do, and a 422 that says what is wrong for each bad value."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from app import create_app
from model.color import fit_gamut_np, rgb_to_lab_np
from model.hints import color_to_ab
from tests.app.conftest import image_bytes, post
from tests.conftest import synthetic_photo

PHOTO = synthetic_photo(31, (160, 120)).convert("L")
RED = "#c02020"


@pytest.fixture
def echo_client(echo_weights):
    """The app with a net that follows hints exactly: the API's handling can be checked by the colour it gives."""
    return create_app({"TESTING": True, "WEIGHTS": str(echo_weights)}).test_client()


def ab_at(response, x: int, y: int) -> np.ndarray:
    with Image.open(io.BytesIO(response.data)) as result:
        return rgb_to_lab_np(np.asarray(result.convert("RGB"))[y - 1:y + 2, x - 1:x + 2])[..., 1:].reshape(-1, 2).mean(0)


def test_a_hint_colours_its_point_with_its_colour(echo_client):
    hints = json.dumps([{"x": 40, "y": 30, "color": RED}])
    plain = post(echo_client, image_bytes(PHOTO, "PNG"), filename="p.png", format="png")
    hinted = post(echo_client, image_bytes(PHOTO, "PNG"), filename="p.png", format="png", hints=hints)
    assert plain.status_code == hinted.status_code == 200
    target = np.array(color_to_ab(RED))
    before, after = (np.linalg.norm(ab_at(r, 40, 30) - target) for r in (plain, hinted))
    assert after < before / 4  # much closer to the chosen colour (its lightness is the photo's own)
    assert np.linalg.norm(ab_at(hinted, 140, 100)) < 3  # far from the point, nothing changes


def test_hints_are_in_the_coordinates_of_the_upright_photo(echo_client):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 160 x 120, displayed 120 x 160
    data = image_bytes(synthetic_photo(32, (160, 120)), exif=exif.tobytes())
    response = post(echo_client, data, format="png", hints=json.dumps([{"x": 100, "y": 140, "color": RED}]))
    assert response.status_code == 200
    assert np.linalg.norm(ab_at(response, 100, 140) - np.array(color_to_ab(RED))) < 15
    refused = post(echo_client, data, hints=json.dumps([{"x": 140, "y": 100, "color": RED}]))
    assert refused.status_code == 422 and "x = 140 is outside the image, which is 120 pixels wide" in refused.json["error"]


def test_vividness_zero_is_gray_and_two_is_more_colourful(client):
    from training.evaluate import colorfulness
    results = {v: post(client, image_bytes(PHOTO), format="png", vividness=v) for v in ("0", "1", "2")}
    assert all(r.status_code == 200 for r in results.values())
    pixels = {v: np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"), dtype=int) for v, r in results.items()}
    assert np.abs(pixels["0"] - pixels["0"][..., :1]).max() <= 1
    assert colorfulness(pixels["2"].astype(np.uint8)) > 1.5 * colorfulness(pixels["1"].astype(np.uint8))


TOO_MANY = json.dumps([{"x": i, "y": 1, "color": RED} for i in range(65)])
BAD_FIELDS = [
    ("not json", {"hints": "[{x: 1}]"}, "hints is not valid JSON"),
    ("not an array", {"hints": '{"x": 1, "y": 2, "color": "#c02020"}'}, "hints must be a JSON array"),
    ("a point without color", {"hints": '[{"x": 1, "y": 2}]'}, "hint 1 has no color"),
    ("a point without x and y", {"hints": '[{"color": "#c02020"}]'}, "hint 1 has no x and no y"),
    ("a point that is not an object", {"hints": "[[1, 2]]"}, "hint 1 must be an object"),
    ("outside the image", {"hints": '[{"x": 160, "y": 2, "color": "#c02020"}]'},
     "x = 160 is outside the image, which is 160 pixels wide"),
    ("a negative coordinate", {"hints": '[{"x": 3, "y": -2, "color": "#c02020"}]'}, "y = -2 is outside the image"),
    ("a fractional coordinate", {"hints": '[{"x": 3.5, "y": 2, "color": "#c02020"}]'}, "x must be a whole number"),
    ("a colour name", {"hints": '[{"x": 3, "y": 2, "color": "red"}]'}, "color must be '#rrggbb'"),
    ("a short colour", {"hints": '[{"x": 3, "y": 2, "color": "#c22"}]'}, "color must be '#rrggbb'"),
    ("NaN in the JSON", {"hints": '[{"x": NaN, "y": 2, "color": "#c02020"}]'}, "hints is not valid JSON"),
    ("too many points", {"hints": TOO_MANY}, "hints has 65 points; the limit is 64"),
    ("an absurd length", {"hints": "[" + " " * 20000 + "]"}, "hints is 20,002 characters long; the limit is 16,384"),
    ("vividness NaN", {"vividness": "nan"}, "vividness must be a number from 0"),
    ("vividness infinite", {"vividness": "inf"}, "vividness must be a number from 0"),
    ("vividness negative", {"vividness": "-0.5"}, "vividness must be a number from 0"),
    ("vividness too high", {"vividness": "2.5"}, "vividness must be a number from 0"),
    ("vividness a word", {"vividness": "very"}, "vividness must be a number from 0"),
]


@pytest.mark.parametrize("name,fields,message", BAD_FIELDS, ids=[case[0] for case in BAD_FIELDS])
def test_bad_hints_and_vividness_get_422_saying_what_is_wrong(client, name, fields, message):
    response = post(client, image_bytes(PHOTO), **fields)
    assert response.status_code == 422, name
    assert response.is_json and message in response.json["error"]
    assert client.get("/healthz").status_code == 200


def test_the_limit_on_points_is_a_setting(tiny_weights):
    client = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), "MAX_HINTS": 2}).test_client()
    three = json.dumps([{"x": i, "y": 1, "color": RED} for i in range(3)])
    response = post(client, image_bytes(PHOTO), hints=three)
    assert response.status_code == 422 and "the limit is 2" in response.json["error"]
    assert post(client, image_bytes(PHOTO), hints=json.dumps(json.loads(three)[:2])).status_code == 200


def test_an_empty_hints_field_is_no_hints(client):
    plain = post(client, image_bytes(PHOTO), format="png")
    assert post(client, image_bytes(PHOTO), format="png", hints="", vividness="").data == plain.data
    assert post(client, image_bytes(PHOTO), format="png", hints="[]", vividness="1").data == plain.data


def test_hints_to_a_model_without_a_hint_layer_get_422_not_500(format1_weights):
    client = create_app({"TESTING": True, "WEIGHTS": str(format1_weights)}).test_client()
    assert client.get("/healthz").json["model"]["hints"] is False
    response = post(client, image_bytes(PHOTO), hints=json.dumps([{"x": 40, "y": 30, "color": RED}]))
    assert response.status_code == 422
    assert "this model was trained without colour points and cannot take them" in response.json["error"]
    assert post(client, image_bytes(PHOTO), hints="[]").status_code == 200  # no points: nothing to refuse


def test_hints_are_parsed_once_per_request(client, monkeypatch):
    import model.request
    calls = []
    real = model.request.parse_hints
    monkeypatch.setattr(model.request, "parse_hints", lambda *args: calls.append(args) or real(*args))
    response = post(client, image_bytes(PHOTO), hints=json.dumps([{"x": 40, "y": 30, "color": RED}]))
    assert response.status_code == 200 and len(calls) == 1


def test_the_points_header_says_what_each_point_asked_and_what_the_result_shows(echo_client):
    """Orange asked on near-white: sRGB shows only a pale cream there, so the point is not exact; a muted red asked
    on mid-gray is shown as asked. The header lists both, in the order sent."""
    gray = np.full((120, 160), 128, np.uint8)
    gray[:, :80] = 245
    hints = [{"x": 40, "y": 60, "color": "#FF8000"}, {"x": 120, "y": 60, "color": "#b45a5a"}]
    response = post(echo_client, image_bytes(Image.fromarray(gray), "PNG"), format="png", hints=json.dumps(hints))
    assert response.status_code == 200
    points = json.loads(response.headers["X-Colorizer-Points"])
    assert [p["asked"] for p in points] == ["#ff8000", "#b45a5a"]
    orange, red = points
    assert orange["exact"] is False and red["exact"] is True
    with Image.open(io.BytesIO(response.data)) as result:
        pixels = np.asarray(result.convert("RGB"))
    for point, hint in zip(points, hints):  # "shown" is the result's own colour at the point
        assert point["shown"] == "#%02x%02x%02x" % tuple(pixels[hint["y"], hint["x"]])
    lab = rgb_to_lab_np(pixels[60, 40])
    fitted = fit_gamut_np(np.array([lab[0], *color_to_ab("#ff8000")]))
    assert np.linalg.norm(lab[1:] - fitted[1:]) < 2  # the nearest colour sRGB has there: a pale orange
    assert np.linalg.norm(fitted[1:] - np.array(color_to_ab("#ff8000"))) > 50  # far from the orange asked
    assert np.linalg.norm(rgb_to_lab_np(pixels[60, 120])[1:] - np.array(color_to_ab("#b45a5a"))) < 3


def test_no_points_no_points_header(echo_client):
    response = post(echo_client, image_bytes(PHOTO, "PNG"), format="png")
    assert response.status_code == 200 and "X-Colorizer-Points" not in response.headers
