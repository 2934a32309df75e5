"""What a colorization request may ask for, checked in one place: the working size, vividness, colour hints and
the repair mode.

    request = check_request(width, height, size="256", vividness="1.4", hints=points, text=True,
                            default_size=192, takes_hints=True)
    request.size, request.vividness, request.hints, request.restore

The Colorizer checks every call with this (Colorizer.check), the page's POST /colorize answers its error with
422, and the command line with a usage message. A wrong value raises RequestError, a ValueError that names the
field; its message says what the field takes. What is not about the image (how many points or characters the
server accepts, the output format and quality) belongs to whoever receives the request.
"""
import math
from dataclasses import dataclass

from model.hints import Hint, parse_hints, shown
from model.weights import MAX_SIZE, MIN_SIZE  # the working sizes a weights file may ask for, and a caller use

MAX_VIVIDNESS = 2.0  # vividness multiplies the operating point's colours: 0 gray, 1 as calibrated, 2 twice as vivid
RESTORE_MODES = ("auto", "on", "off")  # repair of dust and scratches: when the photo needs it, always, never


class RequestError(ValueError):
    """A request value that is wrong. field: its name ("size", "vividness", "hints", "restore"); the message
    names the field too and says what it takes."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ColorRequest:
    width: int  # the upright image's size the hints were checked against
    height: int
    size: int  # working size: the short side the network sees
    vividness: float  # 0 gray, 1 the model's operating point, MAX_VIVIDNESS twice its colour
    hints: tuple[Hint, ...]  # checked against width x height
    restore: str  # one of RESTORE_MODES


def check_request(width: int, height: int, *, size=None, vividness=None, hints=None, restore=None,
                  default_size: int, takes_hints: bool, text: bool = False) -> ColorRequest:
    """The request's values, checked for a width x height (upright) image and a model -> a ColorRequest.

    size, vividness, restore: None for the default. text: they are text as a form field or a command line gives
    them ("" is the default too). hints: a list of {"x", "y", "color"} (JSON's form; model.hints) or of Hint.
    Raises RequestError naming the first field that is wrong.
    """
    size = check_size(size, text)
    vividness = check_vividness(vividness, text)
    restore = check_restore(restore, text)
    return ColorRequest(width, height, default_size if size is None else size, vividness,
                        check_hints(hints, width, height, takes_hints), restore)


def check_size(value, text: bool = False) -> int | None:
    """A working size: a whole number from MIN_SIZE to MAX_SIZE, or None (the model's own)."""
    given = value
    if text and isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            value = int(value)
        except ValueError:
            pass  # refused below, with the text in the message
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIZE <= value <= MAX_SIZE:
        raise RequestError("size", f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE} (the short "
                                   f"side the network sees), got {shown(given)}")
    return value


def check_vividness(value, text: bool = False) -> float:
    """Vividness: a number from 0 to MAX_VIVIDNESS; None (or blank text) is 1, the model's own."""
    given = value
    if text and isinstance(value, str):
        value = value.strip()
        if not value:
            return 1.0
        try:
            value = float(value)
        except ValueError:
            pass
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_VIVIDNESS:
        raise RequestError("vividness", f"vividness must be a number from 0 (no colour) to {MAX_VIVIDNESS:g} (twice "
                                        f"the colour), 1 being the model's own; got {shown(given)}")
    return float(value)


def check_restore(value, text: bool = False) -> str:
    """The repair mode: one of RESTORE_MODES; None (or blank text) is auto. Text is taken in any case."""
    given = value
    if text and isinstance(value, str):
        value = value.strip().lower() or None
    if value is None:
        return "auto"
    if value not in RESTORE_MODES:
        raise RequestError("restore", f"restore must be {', '.join(RESTORE_MODES[:-1])} or {RESTORE_MODES[-1]}, "
                                      f"got {shown(given)}")
    return value


def check_hints(hints, width: int, height: int, takes_hints: bool) -> tuple[Hint, ...]:
    """Colour hints for a width x height image (model.hints.parse_hints), for a model that takes them or not."""
    if hints and not takes_hints:
        raise RequestError("hints", "hints: this model was trained without colour points and cannot take them; "
                                    "send none, or use a weights file of format 2 or later")
    try:
        return tuple(parse_hints(hints, width, height))
    except ValueError as error:
        raise RequestError("hints", f"hints: {error}") from None
