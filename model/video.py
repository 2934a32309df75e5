"""Colorize a film: a video file in, an MP4 of the same frames in colour out, with colour that stays put.

    info = probe(Path("film.mkv"))                       # VideoInfo(width, height, frames, fps, duration, has_audio)
    colorize_video(colorizer, Path("film.mkv"), Path("film.mp4"), hints=[{"x": 120, "y": 80, "color": "#c02020"}])

Colorizing each frame alone flickers: the network's guess for a shirt or a sky changes from one frame to the next.
So the network colours keyframes and the colour between them is carried along the motion:

- A keyframe is the first frame of each shot (cut detection on the lightness of small thumbnails), a frame where
  colour points start, a frame after which the flow lost its trust over too much of the picture, and otherwise
  every `keyframe_every` frames. The network colours keyframes only.
- Between frames, optical flow (OpenCV's DIS) on the gray frames at the network's working size moves the previous
  frame's ab to where its pixels went. Each pixel's trust falls where the forward and backward flows disagree (an
  occlusion; in flat regions, where the flow is ambiguous but a pixel off lands on the same colour, it counts
  less) or where the moved lightness does not match the frame's (the flow is wrong).
- Each frame's ab is the carried ab, weighted `carry_weight` times its trust, plus the rest from the last
  keyframe's prediction, moved along the flow too. So the colour follows the network's smoothly, over several
  frames, rather than jumping at each keyframe; a region the flow lost (something uncovered) takes the
  prediction; and nothing is carried across a cut, where everything starts again from the network.
- Colour points ride along with their object: each point is moved by the flow at its position, fed to the network
  on later keyframes at its new place, and dropped when it is occluded, leaves the picture or its shot ends.

The network runs on keyframes only, so a stabilized film costs less than one colorized frame by frame
(`stabilize=False`, kept for comparison). Each frame's ab (at the working size) is joined to the frame's own
full-resolution lightness as for photos (model.colorizer.paint), so every frame keeps its lightness.

Input: MP4, MOV, MKV, WebM or AVI (no other demuxers are opened), gray or colour (a colour frame is colorized
from its own lightness, as a colour photo is). Output: MP4, H.264 in yuv420p (BT.709), which every browser
plays; the same frame rate, frame timestamps and number of frames; the audio copied as it is where MP4 can hold
it, else encoded as AAC. A rotated phone video is turned upright, as a photo's EXIF orientation is. yuv420p stores
colour for 2x2 blocks of pixels, so H.264 in yuv420p has even widths and heights: a frame with an odd width or
height gets one more column or row, a copy of its last one (VideoInfo of the result says so). Frames are
streamed: memory does not grow with the film's length.
"""
import contextlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
import torch
from PIL import Image

from model.color import gray8_of_rgb8
from model.colorizer import Colorizer, paint, pixels_to_lightness, working_shape
from model.files import atomic_write
from model.hints import Hint, parse_hints
from model.request import check_vividness

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
# FFmpeg opens many more formats, some of which read other files (playlists) or the network: only these demuxers
# and the file protocol are allowed.
_DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
_OPEN_OPTIONS = {"format_whitelist": _DEMUXERS, "protocol_whitelist": "file"}
FORMAT_NAMES = "MP4, MOV, MKV, WebM or AVI"
# Audio codecs an MP4 holds as they are; others (PCM, Vorbis...) are encoded as AAC.
COPIED_AUDIO = frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"})
# x264's settings. Constant quality 15, a little above "visually lossless" (18), with the colour planes coded finer
# still (a chroma QP 6 below the lightness's): the encoder's own noise changes from frame to frame and is flicker
# too. On the project's 18 clips it alone raised the colour flicker measure (CDC) of the originals by 7% on average,
# and of some clips by 90%, at 18; at these settings the files are 1.7 times as large (bench/RESULTS.md).
CRF = 15
PRESET = "medium"  # x264's speed; the network, not the encoder, is most of the time
ENCODER_OPTIONS = {"crf": str(CRF), "preset": PRESET, "x264-params": "chroma-qp-offset=-6"}
AUDIO_BITRATE = 192_000  # when the audio has to be encoded
MAX_SIDE = 16384  # pixels: x264 refuses a wider or taller frame, so no result could be written
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}  # by channels


class VideoError(ValueError):
    """A file that is not a video this module reads, or that breaks while being read; the message says which."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # pixels, as displayed (a rotated phone video's rotation applied)
    height: int
    frames: int  # the video stream's frames
    fps: float  # average frames per second
    duration: float  # seconds
    has_audio: bool


@dataclass(frozen=True)
class VideoLimits:
    """A work budget for one film, checked as it is decoded: a file's index can understate its frames, and its
    first frame can be small and the next ones huge. None: no limit."""
    frames: int | None = None  # frames of the film
    pixels: int | None = None  # width x height of each frame, checked before the frame is converted


@dataclass(frozen=True)
class Stabilization:
    """How colour is carried between frames. Chosen on 4 of the project's 18 clips, confirmed on the other 14
    (bench/video.py, bench/RESULTS.md)."""
    keyframe_every: int = 6  # the network runs at least every this many frames (1: on every frame)
    carry_weight: float = 0.9  # each frame's share of the colour carried from the previous one where the flow is
    # trusted; the rest comes from the last keyframe's prediction, moved along: colour follows the net within frames
    refresh_area: float = 0.2  # a keyframe comes early when this share of the picture has lost the flow's trust
    lost: float = 0.5  # a pixel whose trust, multiplied over the frames since the keyframe, is below this is lost
    photometric_levels: float = 30.0  # moved gray differing by this much (of 255) costs the flow e^-1 of its trust
    flow_preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST  # DIS at the working size: a few ms a frame
    flow_detail: int = 96  # DIS refines its flow down to the coarsest level whose short side is at least this


# --- reading ---------------------------------------------------------------------------------------------------

def _open(path: Path) -> av.container.InputContainer:
    """path -> an open input container with a video stream; VideoError with a person's message otherwise."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no such video file: {path.name}")
    try:
        container = av.open(str(path), "r", options=_OPEN_OPTIONS)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoError(f"{path.name} is not a video we can read (we read {FORMAT_NAMES}): {_reason(error)}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name} has no video stream")
    return container


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _rotation(frame: av.VideoFrame) -> int:
    """Quarter turns counterclockwise (0 to 3) that make the frame upright (its display matrix), for np.rot90."""
    try:
        angle = frame.rotation
    except (AttributeError, av.FFmpegError):
        return 0
    return round(angle / 90) % 4 if angle else 0


def _first_frame(container, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, OSError) as error:
        raise VideoError(f"cannot decode its video ({stream.codec_context.name}): {_reason(error)}") from None
    raise VideoError("its video stream has no frames")


def _count_frames(container, stream) -> int:
    """Frames of the video stream: from an MP4's or MOV's index, else by reading the packets (MKV and WebM may
    not say; AVI counts the empty chunks that stand for dropped frames)."""
    if stream.frames > 0 and container.format.name.startswith("mov,"):
        return stream.frames
    container.seek(0)
    return sum(1 for packet in container.demux(stream) if packet.size)


def _frame_rate(stream) -> Fraction | None:
    """The average frame rate; its nominal value where they differ only by timestamps rounded to a coarse time base
    (MKV and WebM count milliseconds: 24 fps there averages 24.015)."""
    average, nominal = stream.average_rate, stream.guessed_rate
    if average and nominal and abs(average / nominal - 1) < 0.01:
        return nominal
    return average or nominal


def probe(path: Path) -> VideoInfo:
    """What is in a video file; raises VideoError (a ValueError) with a person's message if it is unreadable.

    Decodes the first frame, so a file whose video this FFmpeg cannot decode is refused here, not halfway."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        first = _first_frame(container, stream)
        width, height = (first.height, first.width) if _rotation(first) % 2 else (first.width, first.height)
        frames = _count_frames(container, stream)
        rate = _frame_rate(stream)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = frames / float(rate) if rate else 0.0
        fps = float(rate) if rate else (frames / duration if duration else 0.0)
        return VideoInfo(width, height, frames, fps, duration, bool(container.streams.audio))
    except VideoError as error:
        raise VideoError(f"{Path(path).name}: {error}") from None
    except (av.FFmpegError, OSError) as error:
        raise VideoError(f"{Path(path).name} is not a video we can read: {_reason(error)}") from None
    finally:
        container.close()


def gray_of(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame -> (H, W) uint8 gray of the same luminance, so of the same Lab L, upright (as for photos).

    The YUV to RGB step uses the frame's own colour matrix and range (BT.601 when it is not tagged)."""
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
    gray = gray8_of_rgb8(rgb[..., 0], rgb[..., 1], rgb[..., 2])
    turns = _rotation(frame)
    return np.ascontiguousarray(np.rot90(gray, turns)) if turns else gray


# --- cuts, flow and confidence, at the working size ----------------------------------------------------------------

MIN_FLOW_SIDE = 16  # pixels: the smallest working-size side the flow is computed on (DIS's patches are 8)
FLAT_DETAIL = 4.0  # gray levels per pixel (Sobel / 8) from which a region counts as textured, for flow_confidence


class CutDetector:
    """Is this frame the first of a new shot? Lightness thumbnails (64 px wide) of consecutive frames compared.

    A cut changes the picture more than motion does. On the project's 18 clips (no cuts), consecutive thumbnails
    differ by at most 0.057 of the gray range on average (a fast pan) and their 16-bin histograms by at most 0.046
    (total variation); the last frame of one clip and the first of another, by at least 0.126 and 0.105. So: a cut
    when the histograms differ by more than HISTOGRAM, or the pixels by more than PIXELS and by RELATIVE times the
    recent typical change (a steady fast pan is not a cut).
    """
    WIDTH = 64
    HISTOGRAM = 0.2
    PIXELS = 0.09
    RELATIVE = 2.5
    MEMORY = 12  # recent frame-to-frame changes kept for the typical one

    def __init__(self):
        self.previous = None
        self.changes: list[float] = []

    def __call__(self, gray: np.ndarray) -> bool:
        """(h, w) uint8 gray of the next frame -> whether a new shot starts with it (True for the first frame)."""
        height = max(1, round(gray.shape[0] * self.WIDTH / gray.shape[1]))
        thumb = cv2.resize(gray, (self.WIDTH, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        histogram = np.histogram(thumb, bins=16, range=(0, 1))[0] / thumb.size
        previous, self.previous = self.previous, (thumb, histogram)
        if previous is None:
            return True
        pixels = float(np.abs(thumb - previous[0]).mean())
        histograms = 0.5 * float(np.abs(histogram - previous[1]).sum())
        typical = float(np.median(self.changes)) if self.changes else 0.0
        cut = histograms > self.HISTOGRAM or (pixels > self.PIXELS and pixels > self.RELATIVE * typical)
        self.changes = [] if cut else (self.changes + [pixels])[-self.MEMORY:]
        return cut


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return columns, rows


def warp(image: np.ndarray, flow: np.ndarray, grid) -> np.ndarray:
    """image (h, w[, C]) of the previous frame -> as seen from the current one: flow (h, w, 2) gives, for each
    pixel of the current frame, where it was in the previous one (backward flow). Bilinear; edges repeated."""
    return cv2.remap(image, grid[0] + flow[..., 0], grid[1] + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def flow_confidence(backward: np.ndarray, forward: np.ndarray, previous: np.ndarray, current: np.ndarray, grid,
                    levels: float) -> np.ndarray:
    """(h, w) trust in [0, 1] that each current pixel's backward flow found where it came from.

    Forward-backward check (Sundaram et al. 2010): going back and then forward again should land where we started;
    the tolerance grows with the motion. Photometric check: the previous frame's gray, moved, should match the
    current one (after the frame's overall change of brightness: old films flicker). A pixel that came from
    outside the picture is not trusted.
    """
    height, width = current.shape
    x, y = grid[0] + backward[..., 0], grid[1] + backward[..., 1]
    forward_there = cv2.remap(forward, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mismatch = ((backward + forward_there) ** 2).sum(-1)
    tolerance = 0.01 * ((backward ** 2).sum(-1) + (forward_there ** 2).sum(-1)) + 0.5
    moved = cv2.remap(previous, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    difference = current.astype(np.float32) - moved
    difference -= np.median(difference)
    inside = (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
    # Where the picture is flat the flow is ambiguous and the two directions often disagree, but a pixel or two off
    # lands on the same colour there: the disagreement counts in proportion to the local detail.
    gray = current.astype(np.float32)
    detail = cv2.GaussianBlur(np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)) / 8,
                              (0, 0), 2)
    flatness = np.minimum(1, detail / FLAT_DETAIL)
    return np.exp(-flatness * mismatch / tolerance - (difference / levels) ** 2) * inside


# --- colour points that ride along ---------------------------------------------------------------------------------

@dataclass
class _Point:
    x: float  # position in the frame, full-resolution pixels
    y: float
    a: float
    b: float


def _points_by_frame(hints, width: int, height: int, frames: int) -> dict[int, list[Hint]]:
    """The hints list ({"x", "y", "color", "frame"}) -> {frame: [Hint]}; ValueError saying what is wrong."""
    if hints is None:
        return {}
    if not isinstance(hints, (list, tuple)):
        raise ValueError(f"hints must be a list of points like {{\"x\": 10, \"y\": 20, \"color\": \"#c02020\", "
                         f"\"frame\": 0}}, got {type(hints).__name__}")
    frames_of = []
    for number, hint in enumerate(hints, start=1):
        frame = hint.get("frame", 0) if isinstance(hint, dict) else 0
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames:
            raise ValueError(f"hint {number}: frame must be a whole number from 0 to {frames - 1} (the video has "
                             f"{frames} frames), got {str(frame)[:20]!r}")
        frames_of.append(frame)
    by_frame: dict[int, list[Hint]] = {}
    for frame, hint in zip(frames_of, parse_hints(hints, width, height)):
        by_frame.setdefault(frame, []).append(hint)
    return by_frame


class PointTracker:
    """Colour points moved along the flow from the frame they were set on, as long as they can be followed."""

    def __init__(self, width: int, height: int, small_width: int, small_height: int):
        self.width, self.height = width, height
        self.scale_x, self.scale_y = small_width / width, small_height / height
        self.points: list[_Point] = []

    def add(self, hints: list[Hint]) -> None:
        self.points += [_Point(float(h.x), float(h.y), h.a, h.b) for h in hints]

    def clear(self) -> None:
        self.points = []

    def move(self, forward: np.ndarray, backward: np.ndarray) -> None:
        """Moves each point by the forward flow at its place (working size); drops those the flow loses."""
        kept = []
        for point in self.points:
            small = np.array([(point.x + 0.5) * self.scale_x - 0.5, (point.y + 0.5) * self.scale_y - 0.5],
                             dtype=np.float32)
            step = _sample(forward, small)
            there = small + step
            back = _sample(backward, there)
            # followed when coming back lands near the start (the forward-backward check of flow_confidence)
            if ((step + back) ** 2).sum() > 0.01 * ((step ** 2).sum() + (back ** 2).sum()) + 0.5:
                continue
            x, y = point.x + step[0] / self.scale_x, point.y + step[1] / self.scale_y
            if 0 <= x <= self.width - 1 and 0 <= y <= self.height - 1:
                kept.append(_Point(x, y, point.a, point.b))
        self.points = kept

    def hints(self) -> list[Hint]:
        return [Hint(round(p.x), round(p.y), p.a, p.b) for p in self.points]


def _sample(field: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(h, w, 2) field at a (x, y) position, bilinear, clamped to the picture."""
    height, width = field.shape[:2]
    x = float(np.clip(position[0], 0, width - 1))
    y = float(np.clip(position[1], 0, height - 1))
    x0, y0 = min(int(x), width - 2) if width > 1 else 0, min(int(y), height - 2) if height > 1 else 0
    x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


# --- colour per frame ----------------------------------------------------------------------------------------------

class FrameColour:
    """Gray frames in order -> their ab at the working size: the network on keyframes, carried along between.

    One per video: it holds the previous frame's small gray, ab and confidence (a few hundred KB), nothing more.
    """

    def __init__(self, colorizer: Colorizer, width: int, height: int, points: dict[int, list[Hint]] | None = None,
                 vividness: float = 1.0, stabilize: bool = True, settings: Stabilization = Stabilization()):
        self.colorizer, self.vividness, self.stabilize, self.settings = colorizer, vividness, stabilize, settings
        self.width, self.height = width, height
        self.small_height, self.small_width = working_shape(height, width, colorizer.default_size)
        self.grid = _grid(self.small_height, self.small_width)
        # A sliver of a frame (a 20:1 strip) is too thin for DIS's patches, which then fails or crashes: its frames
        # are colorized alone and its points stay where they were set.
        self.follows = min(self.small_width, self.small_height) >= MIN_FLOW_SIDE
        self.flow = cv2.DISOpticalFlow_create(settings.flow_preset)
        # DIS stops refining at a scale of 2**finest: a preset's own (2 for FAST) leaves a small frame's motion at a
        # 48-px-high field, where a small object's motion is averaged away
        short = min(self.small_width, self.small_height)
        self.flow.setFinestScale(max(0, int(math.log2(max(1, short) / settings.flow_detail))))
        self.cuts = CutDetector()
        self.points = points or {}
        self.tracker = PointTracker(width, height, self.small_width, self.small_height)
        self.index = 0
        self.previous = None  # small uint8 gray of the previous frame
        self.ab = None  # (h, w, 2) float32 normalized ab of the previous frame
        self.target = None  # (h, w, 2) the last keyframe's prediction, moved along with the frames since
        self.confidence = None  # (h, w) trust in the moved target: 1 on a keyframe, times each step's trust
        self.since_keyframe = 0
        self.network_runs = 0
        self.cut_frames: list[int] = []

    def __call__(self, gray: np.ndarray) -> tuple[Image.Image, torch.Tensor]:
        """(H, W) uint8 gray of the next frame -> (it as a mode L image, (1, 2, h, w) normalized ab to paint)."""
        source = Image.fromarray(gray, "L")
        small = source.resize((self.small_width, self.small_height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        small8 = np.asarray(small)
        cut = self.cuts(small8)
        if cut:
            self.cut_frames.append(self.index)
        new_points = self.points.get(self.index, [])
        backward = forward = None
        if not cut and self.follows and (self.stabilize or self.tracker.points):
            backward = self.flow.calc(small8, self.previous, None)  # current pixel -> where it was
            forward = self.flow.calc(self.previous, small8, None)
        if cut:
            self.tracker.clear()  # a point belongs to its shot
        elif self.tracker.points and self.follows:
            self.tracker.move(forward, backward)
        self.tracker.add(new_points)

        if not self.stabilize or not self.follows:
            ab = self.predict(small)
        elif cut:
            ab = self.target = self.predict(small)
            self.confidence = np.ones(ab.shape[:2], np.float32)
            self.since_keyframe = 0
        else:
            carried = warp(self.ab, backward, self.grid)
            trust = flow_confidence(backward, forward, self.previous, small8, self.grid,
                                    self.settings.photometric_levels)
            self.target = warp(self.target, backward, self.grid)
            self.confidence = trust * warp(self.confidence, backward, self.grid)
            self.since_keyframe += 1
            lost = float((self.confidence < self.settings.lost).mean())
            weight = self.settings.carry_weight * trust
            if new_points or self.since_keyframe >= self.settings.keyframe_every or lost > self.settings.refresh_area:
                self.target, reach = self.predict(small, with_reach=True)
                if reach is not None:  # where the user gave the colour, it shows at once
                    weight *= 1 - reach
                self.confidence = np.ones_like(self.confidence)
                self.since_keyframe = 0
            ab = weight[..., None] * carried + (1 - weight[..., None]) * self.target
        self.previous, self.ab = small8, ab
        self.index += 1
        return source, torch.from_numpy(np.ascontiguousarray(ab.transpose(2, 0, 1)))[None]

    def predict(self, small: Image.Image, with_reach: bool = False):
        """The network's ab for this frame, with the tracked points: (h, w, 2) float32 normalized, at vividness.
        with_reach: also the (h, w) reach of the points over their regions (None without points)."""
        ab, reach = self.colorizer.predict_ab(pixels_to_lightness(small), self.tracker.hints(),
                                              (self.width, self.height), self.vividness)
        self.network_runs += 1
        ab = np.ascontiguousarray(ab[0].numpy().transpose(1, 2, 0))
        if not with_reach:
            return ab
        return ab, None if reach is None else reach.numpy()


# --- writing -------------------------------------------------------------------------------------------------------

class _Writer:
    """An MP4 being written: H.264 yuv420p video with the input's timestamps, and the input's audio."""

    def __init__(self, path: Path, video_in, audio_in, width: int, height: int):
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        rate = _frame_rate(video_in) or Fraction(25)
        self.time_base = video_in.time_base or Fraction(1, 1000)
        self.video = self.container.add_stream("libx264", rate=rate, options=dict(ENCODER_OPTIONS))
        self.video.width, self.video.height = width + width % 2, height + height % 2
        self.video.pix_fmt = "yuv420p"
        self.video.time_base = self.time_base
        context = self.video.codec_context
        context.time_base = self.time_base
        context.color_range, context.colorspace, context.color_primaries, context.color_trc = 1, 1, 1, 1  # BT.709
        if video_in.codec_context.sample_aspect_ratio:
            context.sample_aspect_ratio = video_in.codec_context.sample_aspect_ratio
        self.frame_step = max(1, round(1 / (float(rate) * self.time_base)))  # for frames that come without a time
        self.last_pts = None
        self.audio_in = audio_in
        self.audio = self.resampled = None
        self.copy_audio = audio_in is not None and audio_in.codec_context.codec.canonical_name in COPIED_AUDIO
        if audio_in is None:
            pass
        elif self.copy_audio:
            self.audio = self.container.add_stream_from_template(audio_in)
        else:
            rate = audio_in.codec_context.sample_rate or 48000
            self.audio = self.container.add_stream("aac", rate=rate)
            layout = audio_in.codec_context.layout
            # AVI and some MOV files say only "2 channels": AAC wants a named layout of that many channels
            self.audio.codec_context.layout = layout.name if layout.name in _AAC_LAYOUTS.values() else \
                _AAC_LAYOUTS.get(audio_in.codec_context.channels, "stereo")
            self.audio.codec_context.bit_rate = AUDIO_BITRATE

    def write_frame(self, rgb: np.ndarray, pts: int | None, duration: int = 0) -> None:
        """(H, W, 3) uint8 sRGB, its timestamp and duration in the input's time base (None, 0: not known)."""
        height, width = rgb.shape[:2]
        if width % 2 or height % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + self.frame_step
        elif self.last_pts is not None and pts <= self.last_pts:  # H.264 needs increasing times; a broken file may not
            pts = self.last_pts + 1
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=av.video.reformatter.Colorspace.ITU709,
            dst_color_range=av.video.reformatter.ColorRange.MPEG)
        frame.pts, frame.time_base = pts, self.time_base
        frame.duration = duration or self.frame_step  # the last frame's says how long the film is
        self.container.mux(self.video.encode(frame))

    def write_audio(self, packet: av.Packet) -> None:
        if self.copy_audio:
            if packet.size and packet.dts is not None:
                packet.stream = self.audio
                self.container.mux(packet)
            return
        for frame in packet.decode():  # its timestamp kept: sound that starts late still does
            self.container.mux(self.audio.encode(frame))

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        if self.audio is not None and not self.copy_audio:
            self.container.mux(self.audio.encode(None))
        self.container.close()


# --- the whole film ------------------------------------------------------------------------------------------------

def colorize_video(colorizer: Colorizer, source: Path, destination: Path, *, hints=None, vividness=None,
                   stabilize: bool = True, progress: Callable[[int, int], None] | None = None,
                   settings: Stabilization = Stabilization(), limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Colorizes the video at source into an MP4 at destination (written atomically); returns the result's info.

    hints: [{"x", "y", "color", "frame" (default 0)}], x and y in pixels of the upright frame; each point's colour
    holds on its object from that frame on, within its shot. vividness: as for photos (0 to 2, 1 the model's own).
    stabilize: False colorizes each frame alone. progress(done_frames, total_frames) is called after each frame;
    an exception raised in it stops the work, removes the partial output and propagates. limits: the frames and
    frame size allowed, checked up front and again for every frame as it is decoded.
    Raises VideoError for a file that cannot be read or is over a limit, ValueError for hints or vividness out of
    range.
    """
    source, destination = Path(source), Path(destination)
    info = probe(source)
    check_limits(info, limits, source.name)
    vividness = check_vividness(vividness)
    points = _points_by_frame(hints, info.width, info.height, info.frames)
    if points and not colorizer.takes_hints:
        raise ValueError("this model was trained without colour hints and cannot take them; "
                         "use a weights file of format 2 or later")
    colour = FrameColour(colorizer, info.width, info.height, points, vividness, stabilize, settings)

    def write(path: Path) -> None:
        container = _open(source)
        writer = None
        try:
            video_in = container.streams.video[0]
            video_in.thread_type = "AUTO"
            audio_in = container.streams.audio[0] if container.streams.audio else None
            writer = _Writer(path, video_in, audio_in, info.width, info.height)
            done = 0
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            for packet in container.demux(*streams):
                if packet.stream is not video_in:
                    writer.write_audio(packet)
                    continue
                for frame in packet.decode():
                    if limits.frames is not None and done >= limits.frames:
                        raise VideoError(f"{source.name} has more than {limits.frames} frames, the limit (its index "
                                         f"said {info.frames})")
                    if limits.pixels is not None and frame.width * frame.height > limits.pixels:
                        raise VideoError(f"{source.name}: frame {done + 1} is {frame.width} x {frame.height} "
                                         f"pixels ({frame.width * frame.height:,}); the limit is "
                                         f"{limits.pixels:,} pixels a frame")
                    gray = gray_of(frame)
                    if gray.shape != (info.height, info.width):  # a stream that changes size midway: keep the first
                        gray = cv2.resize(gray, (info.width, info.height), interpolation=cv2.INTER_AREA)
                    painted = paint(*colour(gray))
                    writer.write_frame(np.asarray(painted), frame.pts, frame.duration)
                    done += 1
                    if progress is not None:
                        progress(done, max(done, info.frames))
            writer.close()
            writer = None
        except av.FFmpegError as error:
            raise VideoError(f"{source.name}: reading or writing the video failed: {_reason(error)}") from None
        finally:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.container.close()
            container.close()

    atomic_write(destination, write)
    return probe(destination)


def check_limits(info: VideoInfo, limits: VideoLimits, name: str) -> None:
    """VideoError when a video's facts (from probe) are over the limits, or more than H.264 can hold."""
    if max(info.width, info.height) > MAX_SIDE:
        raise VideoError(f"{name}: its frames are {info.width} x {info.height} pixels; the result (H.264) holds "
                         f"frames of at most {MAX_SIDE} pixels a side")
    if limits.pixels is not None and info.width * info.height > limits.pixels:
        raise VideoError(f"{name}: its frames are {info.width} x {info.height} pixels "
                         f"({info.width * info.height:,}); the limit is {limits.pixels:,} pixels a frame")
    if limits.frames is not None and info.frames > limits.frames:
        raise VideoError(f"{name} has {info.frames} frames; the limit is {limits.frames}")


# --- the command line's part ---------------------------------------------------------------------------------------

def is_video_name(name: str | Path) -> bool:
    """Whether a file name has a video extension this module reads (the command line dispatches on it)."""
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def colorize_video_command(colorizer: Colorizer, source: Path, destination: Path, *, hints=None, vividness=None,
                           stabilize: bool = True) -> str | None:
    """colorize_video with a progress bar over frames (tqdm, on a terminal); None when done, else the error message
    for the command line's report."""
    from tqdm import tqdm

    with tqdm(unit="frame", desc=Path(source).name, leave=False, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            colorize_video(colorizer, source, destination, hints=hints, vividness=vividness, stabilize=stabilize,
                           progress=progress)
        except ValueError as error:  # VideoError, or hints that do not fit this video
            return f"{source}: {error}"
    return None
