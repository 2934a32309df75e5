"""POST /colorize with a colour reference: its colours on the regions that match, the share in a header, and a
clear 4xx naming the field for a reference that cannot give colours."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from app import create_app
from model.color import rgb_to_lab_np
from tests.app.conftest import image_bytes, multipart
from tests.model.test_reference import BLUE, RED, WIDTH, checks, stripes, two_textures

GRAY = two_textures(stripes, checks)  # stripes on the left, checks on the right
REFERENCE = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)  # the same textures swapped: blue checks


@pytest.fixture(scope="module")
def encoder_client(echo_encoder_weights):
    """The app with weights of format 3 (an ImageNet encoder) whose net follows points exactly."""
    return create_app({"TESTING": True, "WEIGHTS": str(echo_encoder_weights), "MAX_PIXELS": 4_000_000}).test_client()


def post(client, reference: bytes | None, filename: str = "reference.png", **fields):
    files = {"image": (image_bytes(GRAY, "PNG"), "photo.png")}
    if reference is not None:
        files["reference"] = (reference, filename)
    body, content_type = multipart({"format": "png", "restore": "off", **fields}, files)
    return client.post("/colorize", data=body, content_type=content_type, headers={"Accept": "application/json"})


def halves(response) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(io.BytesIO(response.data)) as result:
        lab = rgb_to_lab_np(np.asarray(result.convert("RGB")))
    return lab[:, 8:WIDTH // 2 - 8, 1:].mean(axis=(0, 1)), lab[:, WIDTH // 2 + 8:-8, 1:].mean(axis=(0, 1))


def test_a_reference_colours_each_region_as_its_match_and_says_how_much_matched(encoder_client):
    response = post(encoder_client, image_bytes(REFERENCE, "PNG"))
    assert response.status_code == 200, response.json
    share = response.headers["X-Colorizer-Reference"]
    assert len(share) == 4 and 0.5 < float(share) <= 1, share
    left, right = halves(response)
    assert left[0] > 20 and left[1] > 10, f"the striped half should be red, got ab {left}"
    assert right[1] < -8 and right[0] < left[0] - 20, f"the checked half should be blue, got ab {right}"
    plain = post(encoder_client, None)
    assert plain.status_code == 200 and "X-Colorizer-Reference" not in plain.headers
    assert np.abs(np.concatenate(halves(plain))).max() < 2  # the echo net has no colour of its own


def test_the_users_points_come_back_as_asked_beside_the_reference(encoder_client):
    hints = json.dumps([{"x": 40, "y": 60, "color": "#20c020"}])
    response = post(encoder_client, image_bytes(REFERENCE, "JPEG"), filename="reference.jpg", hints=hints)
    assert response.status_code == 200 and float(response.headers["X-Colorizer-Reference"]) > 0.5
    (point,) = json.loads(response.headers["X-Colorizer-Points"])
    assert point["asked"] == "#20c020"


def test_a_form_with_its_reference_input_left_empty_is_colorized_without_one(encoder_client):
    response = post(encoder_client, b"", filename="")
    assert response.status_code == 200 and "X-Colorizer-Reference" not in response.headers


def big_png() -> bytes:
    return image_bytes(Image.new("RGB", (2100, 2000), (200, 40, 40)), "PNG")  # 4.2 megapixels, a few kB


@pytest.mark.parametrize("data, status, words", [
    (b"this is not an image", 415, "not an image"),
    (image_bytes(Image.new("RGB", (96, 64), (128, 128, 128)), "PNG"), 422, "gray photo"),
    (image_bytes(Image.new("L", (96, 64), 90), "PNG"), 422, "gray photo"),
    (big_png(), 413, "too large"),
    (image_bytes(REFERENCE, "JPEG")[:300], 400, "damaged"),
    (b"", 400, "empty"),
])
def test_a_reference_that_cannot_give_colours_gets_a_4xx_naming_the_field(encoder_client, data, status, words):
    response = post(encoder_client, data)
    assert response.status_code == status, response.json
    message = response.json["error"]
    assert message.startswith("reference") and words in message, message


def test_a_model_without_an_encoder_refuses_a_reference_naming_the_field(echo_weights):
    client = create_app({"TESTING": True, "WEIGHTS": str(echo_weights)}).test_client()
    response = post(client, image_bytes(REFERENCE, "PNG"))
    assert response.status_code == 422
    assert response.json["error"].startswith("reference: this model has no ImageNet encoder")
    assert client.get("/healthz").json["model"]["reference"] is False


def test_healthz_says_the_model_takes_a_reference(encoder_client):
    assert encoder_client.get("/healthz").json["model"]["reference"] is True
