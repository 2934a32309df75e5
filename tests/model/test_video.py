"""model.video: films in, steady colour out. Small synthetic videos made here with PyAV."""
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from model.color import gray8_of_rgb8, lightness_of_uint8, rgb_to_lab_np
from model.colorizer import Colorizer
from model.film import VideoError, probe
from model.motion import CutDetector, FrameColour
from model.request import check_film_request
from model.video import colorize_video

RED = "#c02020"
SQUARE = 16  # side of the moving object, pixels
STEP = 3  # its motion per frame, pixels to the right


def scene(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(height, width) uint8 gray: a textured background with a lighter textured square at (4 + STEP * index, 16):
    an object a colour point can be kept to."""
    rng = np.random.default_rng(seed)
    background = rng.integers(30, 150, (height // 4 + 1, width // 4 + 1)).astype(np.uint8)
    gray = np.kron(background, np.ones((4, 4), np.uint8))[:height, :width]  # 4-px blocks: texture the flow can see
    square = rng.integers(180, 240, (SQUARE // 2, SQUARE // 2)).astype(np.uint8)
    left = 4 + STEP * index
    gray[16:16 + SQUARE, left:left + SQUARE] = np.kron(square, np.ones((2, 2), np.uint8))[:, :width - left]
    return gray


def square_centre(index: int) -> tuple[int, int]:
    return 4 + STEP * index + SQUARE // 2, 16 + SQUARE // 2


def make_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), rate: int = 24, codec: str = "libx264",
               pix_fmt: str = "yuv420p", audio: str | None = None, cut_at: int | None = None, colour: bool = False,
               audio_rate: int = 44100, brightness=None) -> list[np.ndarray]:
    """Writes a video of the moving square (a new scene from cut_at on), each frame brightened by brightness(index)
    levels when given (an old film's flicker); returns the frames written (RGB)."""
    width, height = size
    written = []
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            video.options = {"crf": "1"}
        sound = None
        if audio:
            sound = container.add_stream(audio, rate=audio_rate)
            sound.codec_context.layout = "stereo"
        for index in range(frames):
            later = cut_at is not None and index >= cut_at
            gray = scene(index - cut_at if later else index, width, height, seed=7 if later else 0)
            if later:
                gray = 255 - gray // 2  # another shot: brighter, other texture
            if brightness is not None:
                gray = np.clip(gray.astype(int) + brightness(index), 0, 255).astype(np.uint8)
            rgb = np.repeat(gray[..., None], 3, axis=2)
            if colour:
                rgb = np.clip(rgb.astype(int) + [40, -10, -30], 0, 255).astype(np.uint8)
            written.append(rgb)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples = audio_rate * frames // rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / audio_rate)).astype(np.float32)
            chunk = sound.codec_context.frame_size or 1024
            for start in range(0, samples, chunk):
                part = tone[start:start + chunk]
                frame = av.AudioFrame.from_ndarray(np.stack([part, part]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = audio_rate, start, Fraction(1, audio_rate)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return written


def decoded(path: Path) -> tuple[list[np.ndarray], list[Fraction]]:
    """An output's frames as RGB (decoded with its own colour tags) and their times in seconds, exactly."""
    frames, times = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None))
            times.append(frame.pts * stream.time_base)
    return frames, times


def input_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def chroma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) Lab chroma."""
    lab = rgb_to_lab_np(rgb)
    return np.hypot(lab[..., 1], lab[..., 2])


@pytest.fixture(scope="module")
def echo(echo_weights) -> Colorizer:
    """A net that paints the hints' colour near them and nothing elsewhere: hints must be followed to show."""
    return Colorizer.load(echo_weights, precision="float32")


@pytest.mark.parametrize("name, codec, pix_fmt, audio", [
    ("clip.mp4", "libx264", "yuv420p", "aac"),
    ("clip.mov", "libx264", "yuv420p", "pcm_s16le"),
    ("clip.mkv", "libx264", "yuv420p", "libmp3lame"),
    ("clip.mkv", "libx264", "yuv420p", None),
    ("clip.webm", "libvpx-vp9", "yuv420p", "libopus"),
    ("clip.avi", "mjpeg", "yuvj420p", "pcm_s16le"),  # a camera's AVI: motion JPEG in full range, PCM sound
])
def test_the_output_has_the_inputs_frames_size_rate_timestamps_and_audio(tmp_path, colorizer, name, codec, pix_fmt,
                                                                         audio):
    source = tmp_path / name
    make_video(source, codec=codec, pix_fmt=pix_fmt, audio=audio, audio_rate=48000 if audio == "libopus" else 44100)
    info = probe(source)
    assert (info.width, info.height, info.frames, info.has_audio) == (64, 48, 12, audio is not None)
    assert info.fps == pytest.approx(24) and info.duration == pytest.approx(0.5, abs=0.05)

    result = colorize_video(colorizer, source, tmp_path / "out.mp4")
    assert (result.width, result.height, result.frames, result.has_audio) == (64, 48, 12, audio is not None)
    assert result.fps == pytest.approx(24)
    frames, times = decoded(tmp_path / "out.mp4")
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    assert times == input_times(source)  # the same timestamps, exactly
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.format.name.startswith("mov,mp4")
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        if audio:
            copied_or_aac = {"pcm_s16le": "aac", "libopus": "opus", "libmp3lame": "mp3"}.get(audio, audio)
            assert container.streams.audio[0].codec_context.codec.canonical_name == copied_or_aac


def test_audio_that_mp4_holds_is_copied_packet_for_packet(tmp_path, colorizer):
    make_video(tmp_path / "clip.mp4", audio="aac")
    colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out.mp4")

    def audio_packets(path):
        with av.open(str(path)) as container:
            return [bytes(packet) for packet in container.demux(audio=0) if packet.size]
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(tmp_path / "clip.mp4")


def test_audio_that_mp4_does_not_hold_is_encoded_as_aac_of_the_same_length(tmp_path, colorizer):
    make_video(tmp_path / "clip.avi", codec="mpeg4", audio="pcm_s16le")
    colorize_video(colorizer, tmp_path / "clip.avi", tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
    assert stream.codec_context.name == "aac"
    assert samples == pytest.approx(44100 * 12 / 24, abs=2048)  # the encoder's priming and padding at most


@pytest.mark.parametrize("colour", [False, True])
def test_each_frame_keeps_its_lightness(tmp_path, colorizer, colour):
    """The colour is new; the lightness is the input's (a colour input's own), within what H.264 changes."""
    written = make_video(tmp_path / "clip.mp4", colour=colour)
    colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out.mp4", vividness=2)
    frames, _ = decoded(tmp_path / "out.mp4")
    assert max(float(chroma(frame).mean()) for frame in frames) > 5  # there is colour to keep the lightness under

    def lightness(rgb):
        return lightness_of_uint8(torch.from_numpy(gray8_of_rgb8(rgb[..., 0], rgb[..., 1], rgb[..., 2]))).numpy()
    errors = np.stack([np.abs(lightness(out) - lightness(original)) for out, original in zip(frames, written)])
    assert errors.mean() < 1.5 and np.percentile(errors, 99) < 8  # Lab L, 0 to 100


def test_the_cut_detector_finds_a_cut_and_not_motion():
    detector = CutDetector()
    frames = [scene(i, 96, 64) for i in range(8)] + [255 - scene(i, 96, 64, seed=7) // 2 for i in range(8)]
    assert [i for i, frame in enumerate(frames) if detector(frame)] == [0, 8]


def test_nothing_is_carried_across_a_cut(tmp_path, echo):
    """A point on the first shot colours its object; the next shot (new texture and brightness) starts gray,
    the net's own answer without points, in both modes."""
    make_video(tmp_path / "clip.mp4", frames=12, size=(96, 64), cut_at=6)
    x, y = square_centre(0)
    colorize_video(echo, tmp_path / "clip.mp4", tmp_path / "out.mp4", hints=[{"x": x, "y": y, "color": RED}])
    frames, _ = decoded(tmp_path / "out.mp4")
    before, after = frames[:6], frames[6:]
    assert all(chroma(frame)[y - 3:y + 4, square_centre(i)[0] - 3:square_centre(i)[0] + 4].mean() > 20
               for i, frame in enumerate(before))
    assert max(float(chroma(frame).max()) for frame in after) < 4


@pytest.mark.parametrize("stabilize, start", [(True, 2), (False, 2), (True, 0)])
def test_a_point_keeps_its_colour_on_its_moving_object(tmp_path, echo, stabilize, start):
    frames_in = 16
    make_video(tmp_path / "clip.mp4", frames=frames_in, size=(96, 64))
    x, y = square_centre(start)
    colorize_video(echo, tmp_path / "clip.mp4", tmp_path / "out.mp4", stabilize=stabilize,
                   hints=[{"x": x, "y": y, "color": RED, "frame": start}])
    frames, _ = decoded(tmp_path / "out.mp4")
    if start:
        assert max(float(chroma(frame).max()) for frame in frames[:start]) < 4  # the point starts on its frame
    for index in range(start, frames_in):
        cx, cy = square_centre(index)
        lab = rgb_to_lab_np(frames[index][cy - 2:cy + 3, cx - 2:cx + 3]).reshape(-1, 3).mean(axis=0)
        assert lab[1] > 20 and abs(np.degrees(np.arctan2(lab[2], lab[1])) - 30) < 25, (index, lab)  # red's hue
    # where the object was when the point was set is background by the end: no colour stayed behind there
    assert chroma(frames[-1])[y - 2:y + 3, x - 2:x + 3].mean() < 6


def film_colour(colorizer: Colorizer, width: int, height: int, frames: int = 100, **values) -> FrameColour:
    """A FrameColour for a film of this size, as colorize_video makes it."""
    request = check_film_request(width, height, frames, default_size=colorizer.default_size,
                                 takes_hints=colorizer.takes_hints, **values)
    return FrameColour(colorizer, request)


def colour_frames(colorizer: Colorizer, colour: FrameColour, grays: list[np.ndarray]) -> list[np.ndarray]:
    """Gray frames through the film's loop (prepare, colour, paint) -> (H, W, 3) uint8 RGB, unencoded."""
    request = colour.request.frame_request()
    painted = []
    for gray in grays:
        seen = colorizer.prepare(Image.fromarray(gray, "L"), request)
        painted.append(np.asarray(colorizer.paint(seen, colour(seen))))
    return painted


def test_a_rotated_frame_is_turned_upright():
    """A phone's display matrix: FFmpeg's angle is counterclockwise, so -90 means "turn it a quarter clockwise"."""
    from model.film import upright_rgb

    class Rotated:
        color_range = 0
        rotation = -90

        def to_ndarray(self, **options):
            rgb = np.zeros((2, 3, 3), np.uint8)
            rgb[0, 0] = 255  # the top left pixel is white
            return rgb
    upright = upright_rgb(Rotated())
    assert upright.shape == (3, 2, 3) and (upright[0, 1] == 255).all()  # a quarter turn clockwise: now at the top right


def test_a_stabilized_film_runs_the_network_on_few_frames(colorizer):
    frames = [scene(i, 96, 64) for i in range(24)]
    runs = {}
    for stabilize in (True, False):
        colour = film_colour(colorizer, 96, 64, stabilize=stabilize)
        colour_frames(colorizer, colour, frames)
        runs[stabilize] = colour.network_runs
    assert runs[False] == 24 and runs[True] <= 24 // 4


def test_vividness_zero_gives_gray_frames(tmp_path, colorizer):
    make_video(tmp_path / "clip.mp4")
    colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out.mp4", vividness=0)
    frames, _ = decoded(tmp_path / "out.mp4")
    assert max(float(chroma(frame).max()) for frame in frames) < 2


def test_an_odd_size_gets_one_more_column_and_row_copied_from_the_edge(tmp_path, colorizer):
    make_video(tmp_path / "clip.mkv", size=(63, 47), codec="ffv1", pix_fmt="yuv444p")
    info = colorize_video(colorizer, tmp_path / "clip.mkv", tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames) == (64, 48, 12)
    frames, _ = decoded(tmp_path / "out.mp4")
    difference = np.abs(frames[3][:, -1].astype(int) - frames[3][:, -2].astype(int))
    assert difference.mean() < np.abs(np.diff(frames[3][:, :-1].astype(int), axis=1)).mean() / 3


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100, b"\xff\xd8\xff\xe0" + bytes(500),
                                     b"ffconcat version 1.0\nfile /etc/hostname\n"])  # a list of other files
def test_an_unreadable_file_raises_video_error_and_writes_nothing(tmp_path, colorizer, content):
    (tmp_path / "broken.mp4").write_bytes(content)
    with pytest.raises(VideoError, match="broken.mp4"):
        probe(tmp_path / "broken.mp4")
    with pytest.raises(VideoError):
        colorize_video(colorizer, tmp_path / "broken.mp4", tmp_path / "out" / "out.mp4")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_missing_file_a_photo_and_a_file_without_video_are_refused(tmp_path):
    with pytest.raises(VideoError, match="no such video file"):
        probe(tmp_path / "nothing.mp4")
    Image.new("RGB", (32, 32), "red").save(tmp_path / "photo.jpg")  # FFmpeg reads photos too; we do not
    with pytest.raises(VideoError):
        probe(tmp_path / "photo.jpg")
    with av.open(str(tmp_path / "sound.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match="no video"):
        probe(tmp_path / "sound.mp4")


def test_hints_are_checked_before_anything_is_written(tmp_path, colorizer):
    make_video(tmp_path / "clip.mp4")
    for hints, message in (([{"x": 1, "y": 1, "color": RED, "frame": 12}], "frame must be a whole number from 0 to 11"),
                           ([{"x": 64, "y": 1, "color": RED}], "outside the image"),
                           ([{"x": 1, "y": 1, "color": "red"}], "#rrggbb")):
        with pytest.raises(ValueError, match=message):
            colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out.mp4", hints=hints)
        assert not (tmp_path / "out.mp4").exists()


def test_progress_counts_frames_and_raising_in_it_cancels_leaving_no_file(tmp_path, colorizer):
    make_video(tmp_path / "clip.mp4", audio="aac")  # audio is written as it comes: the output has begun by frame 5
    calls = []
    colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out" / "done.mp4",
                   progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 12) for done in range(1, 13)]

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done == 5:
            raise Cancelled

    with pytest.raises(Cancelled):
        colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out" / "cancelled.mp4", progress=cancel)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["done.mp4"]  # no partial file, no temporary


def test_the_writers_thread_runs_calls_in_order_and_gives_their_error_to_the_caller():
    """model.film's encoder thread: calls run one after another in the order given; an error in one is raised on
    the caller's thread (at its next call or at finish) and the calls after it are dropped; cancel drops those
    still waiting."""
    import threading
    import time

    from model.film import _InOrder
    done = []
    calls = _InOrder(2, "test")
    for index in range(50):
        calls(lambda index=index: done.append(index))
    calls.finish()
    assert done == list(range(50))

    done.clear()
    failing = _InOrder(2, "test")
    failing(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        for index in range(50):
            failing(lambda index=index: done.append(index))
            time.sleep(0.002)
        failing.finish()
    failing.cancel()
    assert done == []  # nothing after the error ran

    release, started = threading.Event(), threading.Event()
    cancelled = _InOrder(3, "test")
    cancelled(lambda: (started.set(), release.wait(5)))
    for index in range(3):
        cancelled(lambda index=index: done.append(index))
    started.wait(5)
    threading.Timer(0.05, release.set).start()
    cancelled.cancel()
    assert done == [] and not cancelled.thread.is_alive()

    # another thread (the decoder's, handing over audio) blocked on a full queue when the writer is cancelled:
    # let go, its calls unrun
    release.clear()
    blocked = _InOrder(1, "test")
    blocked(lambda: release.wait(5))
    feeder = threading.Thread(target=lambda: [blocked(lambda index=index: done.append(index)) for index in range(5)])
    feeder.start()
    time.sleep(0.05)
    threading.Timer(0.05, release.set).start()
    blocked.cancel()
    feeder.join(5)
    assert not feeder.is_alive() and done == []


def test_frames_read_ahead_come_in_order_errors_at_the_caller_and_closing_stops_the_thread():
    """model.film's decoder thread: what it produces comes in order, an error there is raised where the next item
    is asked for (after those before it), and a caller that stops early stops the thread, whose iterator is
    closed."""
    import threading

    from model.film import read_ahead
    assert list(read_ahead(iter(range(100)), 3, "test")) == list(range(100))

    def failing():
        yield from range(5)
        raise VideoError("frame 6 is too large")

    got = []
    with pytest.raises(VideoError, match="frame 6"):
        for item in read_ahead(failing(), 3, "test"):
            got.append(item)
    assert got == list(range(5))

    closed = threading.Event()

    def endless():
        try:
            index = 0
            while True:
                yield index
                index += 1
        finally:
            closed.set()

    items = read_ahead(endless(), 2, "endless")
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    items.close()
    assert closed.is_set() and not any(t.name == "endless" and t.is_alive() for t in threading.enumerate())


def test_an_error_while_encoding_reaches_the_caller_as_a_video_error(tmp_path, colorizer, monkeypatch):
    """FFmpeg failing on the writer's thread, midway through a film: the caller gets a VideoError naming the file
    and no partial output is left."""
    from model import film
    make_video(tmp_path / "clip.mp4")
    encode, count = film.FilmWriter._encode, []

    def failing(self, rgb, pts, duration):
        count.append(pts)
        if len(count) == 6:
            raise av.FFmpegError(22, "Invalid argument")
        encode(self, rgb, pts, duration)

    monkeypatch.setattr(film.FilmWriter, "_encode", failing)
    with pytest.raises(VideoError, match="clip.mp4.*Invalid argument"):
        colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out" / "result.mp4")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_command_line_colorizes_a_video_into_an_mp4(tmp_path, tiny_weights):
    from model.colorize import main
    make_video(tmp_path / "clip.mkv")
    assert main([str(tmp_path / "clip.mkv"), "--output", str(tmp_path / "out"), "--weights", str(tiny_weights),
                 "--stabilize", "off", "--vividness", "1.5"]) == 0
    assert probe(tmp_path / "out" / "clip.mp4").frames == 12


def test_the_command_line_reports_an_unreadable_video(tmp_path, tiny_weights, capsys):
    from model.colorize import main
    (tmp_path / "broken.mov").write_bytes(b"nothing here")
    assert main([str(tmp_path / "broken.mov"), "--output", str(tmp_path / "out"), "--weights", str(tiny_weights)]) == 1
    assert "broken.mov" in capsys.readouterr().err
    assert not (tmp_path / "out" / "broken.mp4").exists()


def test_a_sliver_of_a_film_is_colorized_frame_by_frame(tmp_path, colorizer):
    """A 20:1 strip is too thin at the working size for the flow's patches (OpenCV fails, or crashes): it is
    colorized one frame at a time instead."""
    frames = [np.ascontiguousarray(np.tile(scene(i, 96, 64)[:8], (1, 3))) for i in range(4)]  # 288 x 8
    colour = film_colour(colorizer, 288, 8)
    assert not colour.follows
    colour_frames(colorizer, colour, frames)
    assert colour.network_runs == 4


# A colour reference: matched at each keyframe as a photo is, carried along the motion between.

def write_gray_film(path: Path, grays: list[np.ndarray], rate: int = 24) -> None:
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.height, video.width = grays[0].shape
        video.pix_fmt, video.options = "yuv420p", {"crf": "1"}
        for index, gray in enumerate(grays):
            frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=2), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def two_texture_frames(count: int) -> list[np.ndarray]:
    """Stripes on the left, checks on the right (tests.model.test_reference), their noise new in each frame."""
    from tests.model.test_reference import checks, stripes, two_textures
    return [np.asarray(two_textures(stripes, checks, seed=index)) for index in range(count)]


@pytest.fixture(scope="module")
def encoder_colorizer(echo_encoder_weights) -> Colorizer:
    """Weights of format 3 (an ImageNet encoder) whose net paints the points' colours and no colour of its own."""
    return Colorizer.load(echo_encoder_weights, precision="float32")


def halves_ab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = rgb_to_lab_np(rgb)
    half = rgb.shape[1] // 2
    return lab[:, 8:half - 8, 1:].mean(axis=(0, 1)), lab[:, half + 8:-8, 1:].mean(axis=(0, 1))


def test_a_film_with_a_reference_takes_its_colours_where_it_matches(tmp_path, encoder_colorizer):
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    source = tmp_path / "film.mkv"
    write_gray_film(source, two_texture_frames(8))
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)  # the textures swapped: blue checks
    done = colorize_video(encoder_colorizer, source, tmp_path / "with.mp4", reference=reference)
    plain = colorize_video(encoder_colorizer, source, tmp_path / "without.mp4")
    assert done.frames == 8 and 0.5 < done.reference_share <= 1 and plain.reference_share is None
    for index, (coloured, gray) in enumerate(zip(decoded(tmp_path / "with.mp4")[0],
                                                 decoded(tmp_path / "without.mp4")[0])):
        left, right = halves_ab(coloured)
        assert left[0] > 15 and left[1] > 8, f"frame {index}: the striped half should be red, got ab {left}"
        assert right[1] < -8 and right[0] < left[0] - 15, f"frame {index}: the checked half should be blue, got {right}"
        assert np.abs(np.concatenate(halves_ab(gray))).max() < 3  # the echo net has no colour of its own


def test_a_films_first_frame_with_a_reference_is_the_photo_with_it(encoder_colorizer):
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    grays = two_texture_frames(8)
    height, width = grays[0].shape
    prepared = encoder_colorizer.prepare_reference(two_textures(checks, stripes, colours=(BLUE, RED), seed=1))
    point = {"x": 40, "y": 60, "color": "#20c020"}  # the user's point wins near it, in both
    request = check_film_request(width, height, 8, hints=[point], default_size=encoder_colorizer.default_size,
                                 takes_hints=True)
    colour = FrameColour(encoder_colorizer, request, reference=prepared)
    frames = colour_frames(encoder_colorizer, colour, grays)
    photo = encoder_colorizer(Image.fromarray(grays[0], "L"), hints=[point], restore="off", reference=prepared)
    assert np.array_equal(frames[0], np.asarray(photo))
    keyframes = colour.network_runs
    assert len(colour.reference_shares) == keyframes and colour.reference_share == pytest.approx(
        np.mean(colour.reference_shares)) and colour.reference_share > 0.5
