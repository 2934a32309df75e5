"""What a colorization request may ask for, checked in one place: the working size, vividness, colour hints and
the repair mode; for a film, also the frame each point starts on and whether colour is carried along the motion.

    request = check_request(width, height, size="256", vividness="1.4", hints=points, text=True,
                            default_size=192, takes_hints=True)
    request.size, request.vividness, request.hints, request.restore
    film = check_film_request(width, height, frames, hints=points_with_frames, vividness="1.4", text=True,
                              default_size=192, takes_hints=True)
    film.to_json() ... FilmRequest.from_json(data)    # what a video job keeps in the queue: checked once, here

The Colorizer checks every call with this (Colorizer.check), the page's POST /colorize and POST /videos answer
its error with 422, and the command line with a usage message; a checked film request is what a video job queues,
and the worker runs it as it is. A wrong value raises RequestError, a ValueError that names the
field; its message says what the field takes. What is not about the image (how many points or characters the
server accepts, the output format and quality) belongs to whoever receives the request.
"""
import math
from dataclasses import asdict, dataclass, field

from model.hints import Hint, parse_hints, shown
from model.weights import MAX_SIZE, MIN_SIZE  # the working sizes a weights file may ask for, and a caller use

MAX_VIVIDNESS = 2.0  # vividness multiplies the operating point's colours: 0 gray, 1 as calibrated, 2 twice as vivid
RESTORE_MODES = ("auto", "on", "off")  # repair of dust and scratches: when the photo needs it, always, never


class RequestError(ValueError):
    """A request value that is wrong. field: its name ("size", "vividness", "hints", "restore", "reference"); the
    message names the field too and says what it takes."""

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
    # a colour reference, checked and prepared for matching (model.reference.Reference), or None; the Colorizer
    # adds it (Colorizer.check), since preparing it needs the model's encoder
    reference: object | None = field(default=None, compare=False, repr=False)


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


@dataclass(frozen=True)
class FilmRequest:
    """A film's request, checked (check_film_request): each of its frames is colorized as a ColorRequest of these
    values (frame_request), with the points that have reached it."""
    width: int  # the upright frame's size the points were checked against
    height: int
    frames: int  # frames the film has (from its index): a point may start on any of them
    size: int  # working size: the short side the network sees
    vividness: float  # as for photos
    points: tuple[tuple[int, Hint], ...]  # (frame it starts on, point), in the order given
    stabilize: bool = True  # carry colour along the motion; False: each frame colorized alone, which flickers
    restore: str = "off"  # films are not repaired: the page previews a film's first frame with restore off
    reference: str | None = None  # a colour reference photo's path (a relative one: in the film's folder), opened
    # and prepared by whoever colorizes the film (model.video); None: none

    def frame_request(self, hints: tuple[Hint, ...] = ()) -> ColorRequest:
        """One frame's request, with these points (already checked, or moved along the motion from checked ones)."""
        return ColorRequest(self.width, self.height, self.size, self.vividness, tuple(hints), self.restore)

    def points_by_frame(self) -> dict[int, list[Hint]]:
        by_frame: dict[int, list[Hint]] = {}
        for frame, hint in self.points:
            by_frame.setdefault(frame, []).append(hint)
        return by_frame

    def to_json(self) -> dict:
        """Plain JSON values (a queued job's record), read back by from_json as they were."""
        data = asdict(self)
        data["points"] = [{"frame": frame, **asdict(hint)} for frame, hint in self.points]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "FilmRequest":
        points = tuple((p["frame"], Hint(p["x"], p["y"], p["a"], p["b"])) for p in data["points"])
        return cls(**{**data, "points": points})


def check_film_request(width: int, height: int, frames: int, *, size=None, vividness=None, hints=None,
                       stabilize=True, reference=None, default_size: int, takes_hints: bool,
                       text: bool = False) -> FilmRequest:
    """A film's values, checked for its (upright) frame size and number of frames, and a model -> a FilmRequest.

    hints: a list of {"x", "y", "color", "frame"}: x, y and color as a photo's, frame (default 0, the first) where
    the point starts. reference: the path of a colour photo already checked (Colorizer.prepare_reference), or
    None. Other values as check_request's. Raises RequestError naming the first field that is wrong."""
    size = check_size(size, text)
    vividness = check_vividness(vividness, text)
    if not isinstance(stabilize, bool):
        raise RequestError("stabilize", f"stabilize must be true or false, got {shown(stabilize)}")
    starts = check_starts(hints, frames)
    points = check_hints(hints, width, height, takes_hints)
    return FilmRequest(width, height, frames, default_size if size is None else size, vividness,
                       tuple(zip(starts, points)), stabilize, reference=None if reference is None else str(reference))


def check_starts(hints, frames: int) -> list[int]:
    """Each point's "frame" (default 0): a whole number from 0 to frames - 1."""
    if not isinstance(hints, (list, tuple)):
        return []  # check_hints says what is wrong with it
    frames = max(frames, 1)
    starts = []
    for number, hint in enumerate(hints, start=1):
        frame = hint.get("frame", 0) if isinstance(hint, dict) else 0
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames:
            raise RequestError("hints", f"hints: hint {number}: frame must be a whole number from 0 to {frames - 1} "
                                        f"(the video has {frames} frames), got {shown(frame)}")
        starts.append(frame)
    return starts
