"""model.request: every rule about what a colorization may ask for, one error type that names the field."""
import math

import pytest

from model.colorizer import Colorizer
from model.hints import Hint
from model.request import MAX_VIVIDNESS, ColorRequest, RequestError, check_request
from tests.conftest import synthetic_photo

RED = "#c02020"


def check(text: bool = False, takes_hints: bool = True, **values) -> ColorRequest:
    return check_request(100, 50, default_size=48, takes_hints=takes_hints, text=text, **values)


def test_nothing_asked_is_the_models_own_operating_point():
    assert check() == ColorRequest(100, 50, size=48, vividness=1.0, hints=(), restore="auto")
    assert check(text=True, size="", vividness=" ", restore="", hints=[]) == check()


def test_values_and_their_text_give_the_same_request():
    hints = [{"x": 99, "y": 0, "color": RED}]
    given = check(size=64, vividness=1.5, restore="off", hints=hints)
    assert given == check(text=True, size=" 64 ", vividness="1.5", restore="OFF", hints=hints)
    assert given.size == 64 and given.vividness == 1.5 and given.restore == "off"
    (hint,) = given.hints
    assert isinstance(hint, Hint) and (hint.x, hint.y) == (99, 0)


@pytest.mark.parametrize("mode", ["auto", "on", "off"])
def test_each_repair_mode_is_taken(mode):
    assert check(restore=mode).restore == mode


BAD = [
    ("size", {"size": 31}, "size must be a whole number of pixels from 32 to 1024"),
    ("size", {"size": 1025}, "got 1025"),
    ("size", {"size": 64.0}, "got 64.0"),
    ("size", {"size": True}, "got True"),
    ("size", {"size": "64"}, "got '64'"),  # text only when the caller says it sends text
    ("vividness", {"vividness": -0.1}, "vividness must be a number from 0 (no colour) to 2"),
    ("vividness", {"vividness": MAX_VIVIDNESS + 0.01}, "vividness must be"),
    ("vividness", {"vividness": math.nan}, "got nan"),
    ("vividness", {"vividness": math.inf}, "got inf"),
    ("vividness", {"vividness": "1"}, "got '1'"),
    ("restore", {"restore": "yes"}, "restore must be auto, on or off, got 'yes'"),
    ("restore", {"restore": "ON"}, "got 'ON'"),  # case is forgiven in text only
    ("hints", {"hints": [{"x": 100, "y": 0, "color": RED}]}, "hints: hint 1: x = 100 is outside the image"),
    ("hints", {"hints": [{"x": 1, "y": 1, "color": "red"}]}, "hints: hint 1: color must be '#rrggbb'"),
    ("hints", {"hints": {"x": 1}}, "hints: hints must be a list"),
]


@pytest.mark.parametrize("field,values,message", BAD, ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD)])
def test_a_wrong_value_raises_one_error_type_naming_its_field(field, values, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        check(**values)
    assert raised.value.field == field and isinstance(raised.value, ValueError)
    assert str(raised.value).startswith(field)  # the message names the field too


BAD_TEXT = [
    ("size", "big"), ("size", "-64"), ("size", "64.5"), ("size", "1e3"), ("size", "9" * 5000), ("size", "ⅷ"),
    ("vividness", "very"), ("vividness", "nan"), ("vividness", "-inf"), ("vividness", "1e309"), ("vividness", "½"),
    ("restore", "always"), ("restore", "öff"), ("restore", "\x00"),
]


@pytest.mark.parametrize("field,text", BAD_TEXT)
def test_wrong_text_raises_naming_its_field_and_showing_at_most_20_characters(field, text):
    with pytest.raises(RequestError) as raised:
        check(text=True, **{field: text})
    assert raised.value.field == field
    assert len(str(raised.value)) < 200  # the message repeats no more than 20 characters of what was sent


def test_hints_for_a_model_without_a_hint_layer_are_refused_and_none_are_fine():
    with pytest.raises(RequestError, match="hints: this model was trained without colour points") as raised:
        check(takes_hints=False, hints=[{"x": 1, "y": 1, "color": RED}])
    assert raised.value.field == "hints"
    assert check(takes_hints=False, hints=[]).hints == () and check(takes_hints=False).hints == ()


def test_the_colorizer_checks_with_its_own_size_and_hint_layer(format1_weights, colorizer):
    photo = synthetic_photo(1, (80, 60))
    automatic = Colorizer.load(format1_weights)
    assert not automatic.takes_hints and automatic(photo).size == (80, 60)
    with pytest.raises(ValueError, match="without colour points"):  # a plain ValueError to Python callers
        automatic(photo, hints=[{"x": 1, "y": 1, "color": RED}])
    assert colorizer.check(photo).size == colorizer.default_size
    assert colorizer.check((80, 60), hints=[{"x": 79, "y": 59, "color": RED}]).hints[0].x == 79
    with pytest.raises(RequestError, match="restore must be"):
        colorizer(photo, restore="sometimes")


def test_a_request_colorizes_only_the_image_it_was_checked_for(colorizer):
    photo = synthetic_photo(2, (80, 60))
    request = colorizer.check(photo, vividness=0)
    gray = colorizer.colorize(photo, request)
    assert gray.tobytes() == colorizer(photo, vividness=0).tobytes()
    with pytest.raises(ValueError, match="checked for a 80x60 image, not for this 60x80 one"):
        colorizer.colorize(photo.transpose(2), request)  # rotated: hints checked for 80x60 may not fit
