"""POST /colorize's restore field, and transparent uploads."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import image_bytes, post
from tests.conftest import held_out_old_print, synthetic_photo


@pytest.mark.parametrize("value", ["auto", "on", "off", "ON", ""])
def test_restore_values_are_accepted(client, value):
    response = post(client, image_bytes(), restore=value)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"


@pytest.mark.parametrize("value", ["maybe", "1", "true", "x" * 500])
def test_a_bad_restore_value_gets_a_422_that_says_what_is_allowed(client, value):
    response = post(client, image_bytes(), restore=value)
    assert response.status_code == 422
    message = response.get_json()["error"]
    assert message.startswith("restore must be auto, on or off") and len(message) < 80


def test_restore_changes_what_is_painted(client):
    clean = np.asarray(synthetic_photo(7, (200, 150)).convert("L")).copy()
    clean[75, 20:180] = 255  # a bright scratch across the photo
    clean[40:43, 60:63] = 0  # and a dark speck
    photo = image_bytes(Image.fromarray(clean), "PNG")
    results = {value: np.asarray(Image.open(io.BytesIO(post(client, photo, "scan.png", restore=value,
                                                             format="png").data)).convert("L"), dtype=int)
               for value in ("on", "off")}
    assert results["off"][75, 30:170].mean() > 240  # the scratch is painted as it came
    assert results["on"][75, 30:170].mean() < 200  # filled in


def test_the_answer_says_what_the_repair_did(client):
    clean, old = held_out_old_print()
    said = {}
    for name, gray in (("clean", clean), ("old", old)):
        for value in ("auto", "on", "off"):
            response = post(client, image_bytes(Image.fromarray(gray), "PNG"), "scan.png", restore=value)
            assert response.status_code == 200
            header = response.headers.get("X-Colorizer-Repair")
            said[name, value] = None if header is None else json.loads(header)
    assert said["clean", "off"] is None and said["old", "off"] is None  # not asked, not said
    assert said["clean", "auto"] == {"mode": "auto", "repaired": False, "defects": 0, "faded": False, "grain": False}
    old_auto = said["old", "auto"]
    assert old_auto["repaired"] and old_auto["defects"] > 0 and old_auto["faded"]  # made old: faded, scratched
    assert said["old", "on"]["mode"] == "on" and said["old", "on"]["defects"] >= old_auto["defects"]
    # sent again (the page does, for a new vividness): the remembered repair is said the same
    again = post(client, image_bytes(Image.fromarray(old), "PNG"), "scan.png", restore="auto", vividness="1.5")
    assert json.loads(again.headers["X-Colorizer-Repair"]) == old_auto


def test_a_transparent_png_comes_back_with_its_alpha(client):
    rgba = synthetic_photo(8).convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, :30] = 0
    rgba.putalpha(Image.fromarray(alpha))
    response = post(client, image_bytes(rgba, "PNG"), "logo.png", format="png")
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.data)) as result:
        assert result.mode == "RGBA" and np.array_equal(np.asarray(result.getchannel("A")), alpha)
