"""Colorize a film: a video file in, an MP4 of the same frames in colour out, with colour that stays put.

    colorize_video(colorizer, Path("film.mkv"), Path("film.mp4"), hints=[{"x": 120, "y": 80, "color": "#c02020"}])
    request = check_film(colorizer, Path("film.mkv"), hints=..., vividness="1.4", text=True)  # checked once ...
    colorize_video(colorizer, Path("film.mkv"), Path("film.mp4"), request)                     # ... run as it is
    colorize_video(colorizer, Path("film.mkv"), Path("film.mp4"), reference=Image.open("in_colour.jpg"))

Three rooms: model.film reads and writes films (PyAV), model.motion carries colour along the motion, and this
loop joins them to the Colorizer's two ends, the ones a photo goes through: each frame is prepared as the network
sees a photo (Colorizer.prepare), given its colour (the network on keyframes, carried along between), and painted
onto its own full-resolution lightness (Colorizer.paint). A colour frame is colorized from its own lightness, as a
colour photo is. See model.film for the formats read and written, model.motion for how colour is kept steady.

A colour reference (model.reference) is prepared once per film and matched at each keyframe, as a photo is
(Colorizer.with_reference); the frames between carry its colours along the motion. The first frame of a shot is
the photo colorized with the same reference. Within a shot, each later keyframe also reads the colours the shot
has shown (its memory, model.motion: Stabilization.memory), so that objects keep their colour while in view.
"""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from model.colorizer import Colorizer, Seen
from model.files import atomic_write
from model.film import (FilmReader, FilmWriter, VideoError, VideoInfo, VideoLimits, check_limits, is_video_name,
                        probe)
from model.motion import FrameColour, Stabilization
from model.reference import Reference
from model.request import FilmRequest, RequestError, check_film_request
from model.threads import codec_threads

__all__ = ["colorize_video", "check_film", "colorize_video_command", "is_video_name", "Colorized", "VideoError",
           "VideoInfo", "VideoLimits", "probe"]


@dataclass(frozen=True)
class Colorized(VideoInfo):
    """The film written (its facts, as probe reads them) and how much of it took the reference's colours."""
    reference_share: float | None = None  # the mean part of its keyframes matched to the reference; None: none


def check_film(colorizer: Colorizer, source: Path, *, hints=None, vividness=None, size=None, stabilize=True,
                reference=None, limits: VideoLimits = VideoLimits(), text: bool = False) -> FilmRequest:
    """The film's facts and the request's values checked for it and this model -> the FilmRequest to colorize.
    reference: the path of a colour photo, kept in the request (colorize_video opens and prepares it).
    Raises VideoError for a file that cannot be read or is over a limit, RequestError for a value that is wrong."""
    info = probe(source)
    check_limits(info, limits)
    return check_film_request(info.width, info.height, info.frames, size=size, vividness=vividness, hints=hints,
                              stabilize=stabilize, reference=reference, default_size=colorizer.default_size,
                              takes_hints=colorizer.takes_hints, text=text)


def colorize_video(colorizer: Colorizer, source: Path, destination: Path, request: FilmRequest | None = None, *,
                   hints=None, vividness=None, stabilize: bool = True, reference=None,
                   progress: Callable[[int, int], None] | None = None, settings: Stabilization = Stabilization(),
                   limits: VideoLimits = VideoLimits()) -> Colorized:
    """Colorizes the video at source into an MP4 at destination (written atomically); returns the result's info
    and the share of it matched to the reference.

    request: a FilmRequest checked for this film (check_film; a queued job's); without one, hints, vividness and
    stabilize are checked here: hints [{"x", "y", "color", "frame" (default 0)}], x and y in pixels of the upright
    frame, each point's colour holding on its object from that frame on, within its shot; vividness as for photos;
    stabilize False colorizes each frame alone. reference: a colour photo (PIL image, or one prepared by
    colorizer.prepare_reference) whose colours go to the regions of each keyframe that match it, the points
    winning near theirs; without one, the request's reference path (if any) is opened and prepared, once.
    progress(done_frames, total_frames) is called after each frame; an
    exception raised in it stops the work, removes the partial output and propagates. limits: the frames and frame
    size allowed, checked up front and again for every frame as it is decoded.
    Raises VideoError for a file that cannot be read or is over a limit, RequestError (a ValueError) for a value
    that is wrong.
    """
    source, destination = Path(source), Path(destination)
    info = probe(source)
    check_limits(info, limits)
    if request is None:
        request = check_film_request(info.width, info.height, info.frames, hints=hints, vividness=vividness,
                                     stabilize=stabilize, default_size=colorizer.default_size,
                                     takes_hints=colorizer.takes_hints)
    if (request.width, request.height) != (info.width, info.height):
        raise VideoError(f"{source.name}: this request was checked for {request.width} x {request.height} frames, "
                         f"not for this film's {info.width} x {info.height}")
    prepared = prepared_reference(colorizer, reference, request, source)  # once per film, before anything is written
    frame_request = request.frame_request()  # each frame as a photo without points; points ride along (motion)
    colour = FrameColour(colorizer, request, settings, prepared)

    def write(path: Path) -> None:
        threads = codec_threads()
        with FilmReader(source, info, limits, threads) as film, FilmWriter(path, film, threads) as writer:
            def as_seen(rgb: np.ndarray) -> Seen:  # the frame as the net sees it, on the decoder's thread
                return colorizer.prepare(Image.fromarray(rgb), frame_request)

            for done, frame in enumerate(film.frames(audio=writer.write_audio, then=as_seen), start=1):
                seen = frame.prepared
                prediction = colour(seen)  # the network on keyframes, carried along the motion between
                writer.write(np.asarray(colorizer.paint(seen, prediction)), frame)  # on the full-resolution L
                if progress is not None:
                    progress(done, max(done, info.frames))

    atomic_write(destination, write)
    return Colorized(**asdict(probe(destination)), reference_share=colour.reference_share)


def prepared_reference(colorizer: Colorizer, reference, request: FilmRequest, source: Path) -> Reference | None:
    """colorize_video's reference, prepared: the one given (an image, or already prepared), else the request's
    path (a relative one in the film's folder) opened, else None. Raises RequestError("reference", ...)."""
    if reference is None and request.reference is not None:
        path = source.parent / request.reference
        try:
            with Image.open(path) as opened:
                return colorizer.prepare_reference(opened)
        except (OSError, Image.DecompressionBombError) as error:  # UnidentifiedImageError is an OSError
            raise RequestError("reference", f"reference: cannot read {path.name} as an image ({error})") from None
    if reference is None or isinstance(reference, Reference):
        return reference
    return colorizer.prepare_reference(reference)


def colorize_video_command(colorizer: Colorizer, source: Path, destination: Path, *, hints=None, vividness=None,
                           size=None, stabilize: bool = True,
                           reference: Reference | None = None) -> tuple[str | None, float | None]:
    """colorize_video for the command line, with a progress bar over frames (tqdm, on a terminal) -> (None when
    done, else the error message for its report; the share of the film matched to the reference, None without
    one or on an error)."""
    from tqdm import tqdm

    with tqdm(unit="frame", desc=Path(source).name, leave=False, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            request = check_film(colorizer, source, hints=hints, vividness=vividness, size=size,
                                  stabilize=stabilize, text=True)
            done = colorize_video(colorizer, source, destination, request, reference=reference, progress=progress)
        except (VideoError, RequestError) as error:
            return f"{source}: {error}", None
    return None, done.reference_share
