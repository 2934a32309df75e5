"""Reading and writing films with PyAV (FFmpeg's libraries): what is in a file, its frames upright and in order,
and an MP4 written frame by frame with the input's timestamps and audio. No colour here (model.motion, model.video).

    info = probe(Path("film.mkv"))                # VideoInfo(width, height, frames, fps, duration, has_audio)
    with FilmReader(source, info, limits) as film, FilmWriter(destination, film) as writer:
        for frame in film.frames(audio=writer.write_audio, then=prepare):  # Frame: (H, W, 3) uint8 sRGB upright,
            writer.write(rgb, frame)                                        # pts, duration, prepare(rgb)

Input: MP4, MOV, MKV, WebM or AVI (no other demuxers are opened), gray or colour. Output: MP4, H.264 in yuv420p
(BT.709), which every browser plays; the same frame rate, frame timestamps and number of frames; the audio copied
as it is where MP4 can hold it, else encoded as AAC. A rotated phone video is turned upright, as a photo's EXIF
orientation is. yuv420p stores colour for 2x2 blocks of pixels, so H.264 in yuv420p has even widths and heights: a
frame with an odd width or height gets one more column or row, a copy of its last one (VideoInfo of the result says
so). Frames are streamed: memory does not grow with the film's length. FFmpeg's errors while reading or writing
come out as VideoError, naming the file. The decoder and the encoder each run on a thread of their own (FFmpeg lets
Python go on while it works), a few frames ahead of the caller and behind it: a film's colour is computed while
the next frames are decoded and the ones before encoded.
"""
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
# FFmpeg opens many more formats, some of which read other files (playlists) or the network: only these demuxers
# and the file protocol are allowed.
_DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
_OPEN_OPTIONS = {"format_whitelist": _DEMUXERS, "protocol_whitelist": "file"}
FORMAT_NAMES = "MP4, MOV, MKV, WebM or AVI"
# Audio codecs an MP4 holds as they are; others (PCM, Vorbis...) are encoded as AAC.
COPIED_AUDIO = frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"})
# x264's settings. Constant quality 14, a little above "visually lossless" (18), with the colour planes coded finer
# still (a chroma QP 12 below the lightness's): the encoder's own noise changes from frame to frame and is flicker
# too. On the project's 18 clips it alone raised the colour flicker measure (CDC) of the originals by 7% on average,
# and of some clips by 90%, at 18. The speed preset is "veryfast", which costs half of "fast"'s time: x264 took a
# fifth of a stabilized film's CPU time at "fast" on 2 cores. The same colorized frames of the 18 clips encoded each
# way (bench/RESULTS.md, 2026-12-07): "fast", CRF 15, chroma 6 finer (the settings before): CDC 4.47e-4, warp error
# 0.61, 7.9 MB; "veryfast", CRF 14, chroma 12 finer: CDC 4.43e-4, warp error 0.57, 9.9 MB (at "veryfast" with the
# old CRF and chroma offset: 4.52e-4, 0.62, 7.4 MB). Steadier and as accurate, for files a quarter larger.
CRF = 14
PRESET = "veryfast"
CHROMA_FINER = 12  # x264's chroma QP offset, negated
ENCODER_OPTIONS = {"crf": str(CRF), "preset": PRESET, "x264-params": f"chroma-qp-offset={-CHROMA_FINER}"}
AUDIO_BITRATE = 192_000  # when the audio has to be encoded
WRITE_AHEAD = 3  # frames handed to the writer's thread and not yet encoded, at most (memory stays bounded)
READ_AHEAD = 3  # frames decoded on the reader's thread and not yet taken, at most
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


def check_limits(info: VideoInfo, limits: VideoLimits) -> None:
    """VideoError when a video's facts (from probe) are over the limits, or more than H.264 can hold; the message
    is for a person (POST /videos answers it with 422, the command line prints it after the file's name)."""
    width, height = info.width, info.height
    if max(width, height) > MAX_SIDE:
        raise VideoError(f"The video's frames are {width} x {height} pixels; the result (H.264) holds frames of at "
                         f"most {MAX_SIDE} pixels a side.")
    if limits.pixels is not None and width * height > limits.pixels:
        raise VideoError(f"The video's frames are {width} x {height} pixels ({width * height:,}); the limit is "
                         f"{limits.pixels:,} pixels a frame.")
    if limits.frames is not None and info.frames > limits.frames:
        raise VideoError(f"The video has {info.frames:,} frames; the limit is {limits.frames:,}.")


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8 sRGB, upright, at the film's first frame's size
    pts: int | None  # its timestamp in the video stream's time base (None: not known)
    duration: int  # its duration in the same time base (0: not known)
    prepared: Any = None  # what FilmReader.frames' `then` made of rgb, on the decoder's thread (None without one)


def upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame -> (H, W, 3) uint8 sRGB, upright. The YUV to RGB step uses the frame's own colour matrix and
    range (BT.601 when it is not tagged)."""
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
    turns = _rotation(frame)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class FilmReader:
    """A film open for reading its frames in order (with its audio handed to a callback as it comes).

    Each frame is checked against the limits as it is decoded: a file's index can understate its frames, and its
    first frame can be small and the next ones huge. A frame of another size than the first (a stream that changes
    size midway) is resized to the first's."""

    def __init__(self, path: Path, info: VideoInfo, limits: VideoLimits = VideoLimits(), codec_threads: int = 0):
        self.path, self.info, self.limits = Path(path), info, limits
        self.container = _open(self.path)
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"  # frames and slices decoded in parallel where the codec allows
        self.video.codec_context.thread_count = codec_threads  # 0: FFmpeg's choice (model.threads sets it)
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.reading: Iterator[Frame] | None = None

    def frames(self, audio: Callable[[av.Packet], None] | None = None,
               then: Callable[[np.ndarray], Any] | None = None) -> Iterator[Frame]:
        """The video's frames, upright RGB; audio(packet) for each audio packet, in the file's order. Decoded on
        a thread of their own, up to READ_AHEAD frames ahead (audio is called on that thread, and then(rgb), whose
        result is the frame's `prepared`: work on each frame that need not wait for the ones before); an error
        there is raised here, where the next frame is asked for."""
        self.reading = read_ahead(self._decoded(audio, then), READ_AHEAD, name="film decoder")
        return self.reading

    def _decoded(self, audio: Callable[[av.Packet], None] | None,
                 then: Callable[[np.ndarray], Any] | None) -> Iterator[Frame]:
        name, limits, info = self.path.name, self.limits, self.info
        done = 0
        streams = [self.video] + ([self.audio] if self.audio is not None and audio is not None else [])
        for packet in self.container.demux(*streams):
            if packet.stream is not self.video:
                audio(packet)
                continue
            for frame in packet.decode():
                if limits.frames is not None and done >= limits.frames:
                    raise VideoError(f"{name} has more than {limits.frames} frames, the limit (its index said "
                                     f"{info.frames})")
                if limits.pixels is not None and frame.width * frame.height > limits.pixels:
                    raise VideoError(f"{name}: frame {done + 1} is {frame.width} x {frame.height} pixels "
                                     f"({frame.width * frame.height:,}); the limit is {limits.pixels:,} pixels a frame")
                rgb = upright_rgb(frame)
                if rgb.shape[:2] != (info.height, info.width):  # a stream that changes size midway: keep the first
                    rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
                done += 1
                yield Frame(rgb, frame.pts, frame.duration or 0, None if then is None else then(rgb))

    def __enter__(self) -> "FilmReader":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.reading is not None:
            self.reading.close()  # the decoder's thread stopped before its container is closed
        self.container.close()
        if isinstance(error, av.FFmpegError):
            raise VideoError(f"{self.path.name}: reading or writing the video failed: {_reason(error)}") from None


def read_ahead(items: Iterator, depth: int, name: str) -> Iterator:
    """items, produced on a thread of their own up to `depth` ahead of the caller; an error raised there is raised
    here, where the next one is asked for. Closing this iterator (or its end) stops and waits for that thread."""
    waiting: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                waiting.put((item, None))
            waiting.put((end, None))
        except BaseException as error:  # noqa: BLE001 (raised again on the caller's thread)
            waiting.put((end, error))
        finally:
            getattr(items, "close", lambda: None)()  # a generator's own cleanup, on its thread

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, error = waiting.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # a producer blocked on a full queue is let go
            try:
                waiting.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


# --- writing ---------------------------------------------------------------------------------------------------

class _InOrder:
    """Runs the calls given to it one after another on a thread of its own, at most `depth` waiting: the caller
    goes on while they run. An error in one is raised to the caller at its next call (or at finish), and the
    calls after it are dropped; cancel() drops those still waiting."""

    def __init__(self, depth: int, name: str):
        self.waiting: queue.Queue = queue.Queue(depth)
        self.error: BaseException | None = None
        self.dropping = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (call := self.waiting.get()) is not None:
            if self.error is None and not self.dropping:  # after an error, drained unrun: a put never blocks
                try:
                    call()
                except BaseException as error:  # noqa: BLE001 (raised again on the caller's thread)
                    self.error = error

    def __call__(self, call: Callable[[], None]) -> None:
        self._raise()
        if not self.dropping:
            self.waiting.put(call)

    def finish(self) -> None:
        """Waits for every call given; raises the first error."""
        self.waiting.put(None)
        self.thread.join()
        self._raise()

    def cancel(self) -> None:
        """Drops the calls still waiting, and those given from now on (the decoder's thread may still hand over
        audio), and waits for the one running."""
        self.dropping = True
        self.waiting.put(None)
        self.thread.join()
        while True:  # a call another thread was blocked handing over meanwhile: let go, unrun
            try:
                self.waiting.get_nowait()
            except queue.Empty:
                return

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class FilmWriter:
    """An MP4 being written: H.264 yuv420p video with the input's timestamps, and the input's audio."""

    def __init__(self, path: Path, film: FilmReader, codec_threads: int = 0):
        video_in, audio_in, width, height = film.video, film.audio, film.info.width, film.info.height
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        rate = _frame_rate(video_in) or Fraction(25)
        self.time_base = video_in.time_base or Fraction(1, 1000)
        self.video = self.container.add_stream("libx264", rate=rate, options=dict(ENCODER_OPTIONS))
        self.video.width, self.video.height = width + width % 2, height + height % 2
        self.video.pix_fmt = "yuv420p"
        self.video.time_base = self.time_base
        context = self.video.codec_context
        context.time_base = self.time_base
        context.thread_count = codec_threads  # 0: x264's choice (model.threads sets it)
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
        self.encoding = _InOrder(WRITE_AHEAD, name="film encoder")  # the container is touched on its thread only

    def write(self, rgb: np.ndarray, frame: Frame) -> None:
        """(H, W, 3) uint8 sRGB in place of an input frame: at its time, for its duration. Encoded later, on the
        writer's thread: rgb must not change after this call."""
        pts, duration = frame.pts, frame.duration
        height, width = rgb.shape[:2]
        if width % 2 or height % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + self.frame_step
        elif self.last_pts is not None and pts <= self.last_pts:  # H.264 needs increasing times; a broken file may not
            pts = self.last_pts + 1
        self.last_pts = pts
        self.encoding(lambda: self._encode(rgb, pts, duration or self.frame_step))  # the last frame's duration
        # says how long the film is

    def _encode(self, rgb: np.ndarray, pts: int, duration: int) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=av.video.reformatter.Colorspace.ITU709,
            dst_color_range=av.video.reformatter.ColorRange.MPEG)
        frame.pts, frame.time_base, frame.duration = pts, self.time_base, duration
        self.container.mux(self.video.encode(frame))

    def write_audio(self, packet: av.Packet) -> None:
        if self.copy_audio:
            if packet.size and packet.dts is not None:
                packet.stream = self.audio
                self.encoding(lambda: self.container.mux(packet))
            return
        for frame in packet.decode():  # decoded here, beside the demuxing; its timestamp kept: sound that starts
            self.encoding(lambda frame=frame: self.container.mux(self.audio.encode(frame)))  # late still does

    def __enter__(self) -> "FilmWriter":
        return self

    def __exit__(self, kind, error, trace) -> None:
        """Finishes the file (the encoders' last frames, the index); after an error only closes it."""
        if error is not None:
            self.encoding.cancel()
            try:
                self.container.close()
            except Exception:  # the error that stopped the film is the one to report
                pass
            return
        try:
            self.encoding.finish()
        except BaseException:
            self.container.close()
            raise
        self.container.mux(self.video.encode(None))
        if self.audio is not None and not self.copy_audio:
            self.container.mux(self.audio.encode(None))
        self.container.close()


def is_video_name(name: str | Path) -> bool:
    """Whether a file name has a video extension this module reads (the command line dispatches on it)."""
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS
