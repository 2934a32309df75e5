"""model.motion: the colour that follows the motion, pinned by its effect. A stand-in net that flickers (its hue
turns with the frame's mean lightness, as a net's guess turns with an old film's flicker of brightness) on a
synthetic scene whose motion is known: colorized frame by frame the colour jumps; carried along the flow it must
not, on the still background nor on the moving object."""
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from model.color import rgb_to_lab_np
from model.colorizer import Colorizer
from model.generator import Generator
from model.motion import FrameColour, Stabilization, _grid, flow_confidence
from model.request import check_film_request
from tests.conftest import TINY
from tests.model.test_video import STEP, make_video, scene

FRAMES = 24
WIDTH, HEIGHT = 96, 64


class Fickle(Generator):
    """Colour by lightness (brighter, stronger), its hue turning fast with the frame's mean lightness: a brightness
    flicker of a level or two turns it by a radian or more."""

    def forward(self, l_norm: torch.Tensor, hints: Optional[torch.Tensor] = None, raw: bool = False) -> torch.Tensor:
        angle = 80.0 * l_norm.mean(dim=(1, 2, 3), keepdim=True)
        strength = 0.2 + 0.3 * (l_norm + 1)
        return torch.cat([strength * torch.cos(angle), strength * torch.sin(angle)], dim=1)


@pytest.fixture(scope="module")
def fickle_weights(tmp_path_factory) -> Path:
    from model.weights import save_network
    path = tmp_path_factory.mktemp("fickle") / "fickle.pt"
    save_network(Fickle(**TINY, stem_stride=1), path, {"working_size": 64, "chroma_gain": 1.0})
    return path


@pytest.fixture(scope="module")
def fickle(fickle_weights) -> Colorizer:
    return Colorizer.load(fickle_weights, precision="float32")


def flickering_scene(index: int) -> np.ndarray:
    """tests.model.test_video's moving square, its brightness flickering by 3 levels from frame to frame."""
    return np.clip(scene(index, WIDTH, HEIGHT).astype(int) + (2 if index % 2 else -1), 0, 255).astype(np.uint8)


def film_ab(colorizer: Colorizer, stabilize: bool, settings: Stabilization = Stabilization()) -> list[np.ndarray]:
    """The flickering scene through the film's loop (prepare, colour, paint), unencoded -> each frame's (H, W, 2)
    Lab ab."""
    request = check_film_request(WIDTH, HEIGHT, FRAMES, stabilize=stabilize, default_size=colorizer.default_size,
                                 takes_hints=colorizer.takes_hints)
    colour, frame_request = FrameColour(colorizer, request, settings), request.frame_request()
    painted = []
    for index in range(FRAMES):
        seen = colorizer.prepare(Image.fromarray(flickering_scene(index), "L"), frame_request)
        painted.append(rgb_to_lab_np(np.asarray(colorizer.paint(seen, colour(seen))))[..., 1:])
    return painted


def background_changes(frames: list[np.ndarray]) -> np.ndarray:
    """Mean |ab change| from each frame to the next over the still background (rows below the square's path)."""
    return np.array([np.abs(after[40:] - before[40:]).mean() for before, after in zip(frames, frames[1:])])


def object_changes(frames: list[np.ndarray]) -> np.ndarray:
    """Mean |ab change| from each frame to the next on the moving square's middle, followed along its motion."""
    def middle(frame: np.ndarray, index: int) -> np.ndarray:
        left = 4 + STEP * index + 4
        return frame[20:28, left:left + 8]
    return np.array([np.abs(middle(frames[i], i) - middle(frames[i - 1], i - 1)).mean() for i in range(1, FRAMES)])


def test_colour_carried_along_the_motion_stays_put_where_each_frame_alone_flickers(fickle):
    alone, carried = film_ab(fickle, stabilize=False), film_ab(fickle, stabilize=True)
    flicker = np.median(background_changes(alone))
    assert flicker > 20 and np.median(object_changes(alone)) > 20  # the stand-in flickers, frame by frame
    # No frame jumps: not even at a keyframe, where the network's new guess is blended in over several frames.
    assert background_changes(carried).max() < 0.1 * flicker, background_changes(carried).round(1)
    # The moving object keeps its colour as it moves: the colour is carried along the flow, not left in place.
    assert object_changes(carried).mean() < 3, object_changes(carried).round(1)


def test_without_the_carry_the_keyframes_jump(fickle):
    """The measure above sees a broken carry: each frame's colour taken from the keyframe's alone jumps at every
    keyframe by what frame by frame jumps."""
    jumps = background_changes(film_ab(fickle, stabilize=True, settings=Stabilization(carry_weight=0.0)))
    assert jumps.max() > 0.1 * np.median(background_changes(film_ab(fickle, stabilize=False)))


def textured(left: int, square_seed: int = 1) -> np.ndarray:
    """(64, 96) uint8: 4-px blocks of gray 30-150, and a brighter 24-px textured square with its left edge at
    `left` (rows 20 to 44)."""
    background = np.random.default_rng(0).integers(30, 150, (HEIGHT // 4, WIDTH // 4))
    gray = np.kron(background, np.ones((4, 4))).astype(np.uint8)
    square = np.random.default_rng(square_seed).integers(180, 240, (6, 6))
    gray[20:44, left:left + 24] = np.kron(square, np.ones((4, 4))).astype(np.uint8)
    return gray


def confidence(previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(trust, backward flow) as FrameColour computes them at this size."""
    flow = cv2.DISOpticalFlow_create(Stabilization().flow_preset)
    flow.setFinestScale(0)
    backward, forward = flow.calc(current, previous, None), flow.calc(previous, current, None)
    grid = _grid(*current.shape)
    return flow_confidence(backward, forward, previous, current, grid, Stabilization().photometric_levels), backward


def test_flow_confidence_trusts_what_moved_and_not_what_was_uncovered():
    """A square moves 6 px right over a still background: the flow finds that motion and is trusted on both; the
    strip the square uncovered came from nowhere in the previous frame, and is not trusted, though the flow finds
    lookalike pixels for much of it (the photometric check alone trusts 0.4 of it: the forward-backward check is
    what sees it)."""
    trust, backward = confidence(textured(30), textured(36))
    assert np.abs(backward[:, 70:]).max() < 0.5 and backward[24:40, 42:56, 0].mean() == pytest.approx(-6, abs=0.3)
    assert trust[:, 70:].mean() > 0.9 and trust[24:40, 42:56].mean() > 0.9  # the background, the square's inside
    assert trust[22:42, 30:36].mean() < 0.15  # uncovered


def test_flow_confidence_does_not_trust_what_came_from_outside_the_picture():
    """A pan: the whole picture moves 4 px left; the 4 columns that entered on the right have no past."""
    previous = textured(30)
    current = np.ascontiguousarray(np.concatenate([previous[:, 4:], np.full((HEIGHT, 4), 90, np.uint8)], axis=1))
    trust, backward = confidence(previous, current)
    assert backward[8:-8, 8:-8, 0].mean() == pytest.approx(4, abs=0.3)
    assert trust[8:-8, 8:-12].mean() > 0.9 and trust[:, -3:].max() < 0.05


def test_the_command_line_honours_stabilize_off(tmp_path, fickle_weights):
    """`colorize film --stabilize off` colorizes each frame alone (it flickers with the stand-in), on carries the
    colour (it does not): the same film, each way, through the command line."""
    from model.colorize import main
    (tmp_path / "films").mkdir()
    make_video(tmp_path / "films" / "clip.mkv", frames=FRAMES, size=(WIDTH, HEIGHT), codec="ffv1", pix_fmt="yuv444p",
               brightness=lambda index: 2 if index % 2 else -1)
    flicker = {}
    for mode in ("off", "on"):
        assert main([str(tmp_path / "films" / "clip.mkv"), "--output", str(tmp_path / mode), "--weights",
                     str(fickle_weights), "--stabilize", mode]) == 0
        frames = decoded_ab(tmp_path / mode / "clip.mp4")
        flicker[mode] = np.median(background_changes(frames))
    assert flicker["off"] > 20 and flicker["on"] < 0.1 * flicker["off"], flicker


def decoded_ab(path: Path) -> list[np.ndarray]:
    import av
    with av.open(str(path)) as container:
        return [rgb_to_lab_np(frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None))[..., 1:]
                for frame in container.decode(video=0)]


# The shot's memory of its own colours: a drum rolls as it moves (its surface turns, as a turning car's side does),
# so the points set on it roll round out of view while the drum stays in view; the surface that rolls into view
# is of the same look. A stand-in net that paints the points' colours and nothing of its own, with an (untrained)
# ImageNet encoder for the memory's matching (weights of format 3).

DRUM_FRAMES, DRUM_WIDTH, DRUM_HEIGHT = 40, 192, 128
DRUM_TOP, DRUM_SIDE = 40, (64, 48)  # the drum's top row and its (width, height)
DRUM_RED = "#c02020"


def drum_scene(index: int, seed: int = 0, start: int = 20) -> np.ndarray:
    """(128, 192) uint8: dark 4-px blocks of gray 30-150 and a light drum, 4-px blocks of gray 185-215, whose left
    edge is at start + index; its surface rolls 2 px a frame to the right (it leaves on the right, new surface
    comes in on the left), so a point on it is gone by frame 32."""
    rng = np.random.default_rng(seed)
    gray = np.kron(rng.integers(30, 150, (DRUM_HEIGHT // 4, DRUM_WIDTH // 4)), np.ones((4, 4))).astype(np.uint8)
    surface = np.kron(rng.integers(185, 215, (DRUM_SIDE[1] // 4, 104)), np.ones((4, 4))).astype(np.uint8)
    left, roll = start + index, 2 * index
    gray[DRUM_TOP:DRUM_TOP + DRUM_SIDE[1], left:left + DRUM_SIDE[0]] = surface[:, 300 - roll - DRUM_SIDE[0]:300 - roll]
    return gray


def drum_ab(rgb: np.ndarray, index: int, start: int = 20) -> np.ndarray:
    """(N, 2) Lab ab of the drum's inside (8 px in from its edges) in a frame."""
    left = start + index
    inside = rgb[DRUM_TOP + 8:DRUM_TOP + DRUM_SIDE[1] - 8, left + 8:left + DRUM_SIDE[0] - 8]
    return rgb_to_lab_np(inside)[..., 1:].reshape(-1, 2)


@pytest.fixture(scope="module")
def echo_encoder(echo_encoder_weights) -> Colorizer:
    return Colorizer.load(echo_encoder_weights, precision="float32")


def drum_film(colorizer: Colorizer, grays: list[np.ndarray], settings: Stabilization = Stabilization(),
              **values) -> tuple[list[np.ndarray], FrameColour]:
    """Gray frames through the film's loop (prepare, colour, paint), three red points on the drum at frame 0 ->
    the frames painted (RGB) and the FrameColour."""
    hints = [{"x": 20 + x, "y": DRUM_TOP + 24, "color": DRUM_RED} for x in (12, 32, 52)]
    request = check_film_request(DRUM_WIDTH, DRUM_HEIGHT, len(grays), hints=hints,
                                 default_size=colorizer.default_size, takes_hints=True, **values)
    colour, frame_request = FrameColour(colorizer, request, settings), request.frame_request()
    painted = []
    for gray in grays:
        seen = colorizer.prepare(Image.fromarray(gray, "L"), frame_request)
        painted.append(np.asarray(colorizer.paint(seen, colour(seen))))
    return painted, colour


@pytest.mark.parametrize("vividness", [1.0, 0.5])
def test_a_rolling_object_keeps_its_colour_after_its_points_are_gone(echo_encoder, vividness):
    grays = [drum_scene(index) for index in range(DRUM_FRAMES)]
    remembering, colour = drum_film(echo_encoder, grays, vividness=vividness)
    forgetting, _ = drum_film(echo_encoder, grays, Stabilization(memory=False), vividness=vividness)
    assert not colour.tracker.points  # the points rolled out of view with the surface they were on
    first = drum_ab(remembering[0], 0).mean(axis=0)
    assert first[0] > 12 * vividness  # red on the drum at first (the points reach all of it)
    # without the memory the colour goes with the points; with it, the whole drum keeps the colour it had
    assert np.abs(drum_ab(forgetting[-1], DRUM_FRAMES - 1)).mean() < 2
    last = drum_ab(remembering[-1], DRUM_FRAMES - 1)
    assert (last[:, 0] > first[0] / 2).mean() > 0.9, f"red share {(last[:, 0] > first[0] / 2).mean():.2f}"
    assert np.hypot(*(last.mean(axis=0) - first)) < 0.25 * np.hypot(*first), (last.mean(axis=0), first)
    assert sum(colour.memory_points) > 0 and colour.network_runs <= DRUM_FRAMES // 4


def test_the_memory_is_forgotten_at_a_cut(echo_encoder):
    """After a cut, a drum of the same look in another scene starts gray (the net's own colour), not red."""
    grays = [drum_scene(index) for index in range(20)]
    grays += [drum_scene(index, seed=7, start=90) for index in range(12)]  # another background, the drum elsewhere
    painted, colour = drum_film(echo_encoder, grays)
    assert colour.cuts.previous is not None and colour.cut_frames == [0, 20]
    assert drum_ab(painted[19], 19).mean(axis=0)[0] > 12  # the first shot's drum kept its colour
    assert max(float(np.abs(drum_ab(frame, index, start=90)).max()) for index, frame in enumerate(painted[20:])) < 4


class BatchSizes:
    """A network (or encoder) that records the batch size of each run (1: the frame alone; 2: beside its mirror
    image): as many sizes as runs."""

    def __init__(self, network):
        self.network, self.sizes = network, []

    def __call__(self, *inputs):
        self.sizes.append(inputs[0].shape[0])
        return self.network(*inputs)


@pytest.mark.parametrize("refresh_mirror", [False, True])
def test_later_keyframes_run_the_network_once_unless_asked(echo_encoder_weights, refresh_mirror):
    """A shot's first frame (the page's preview) runs beside its mirror image as a photo does; its later keyframes
    run once (half the network's time), unless Stabilization.refresh_mirror asks for both."""
    colorizer = Colorizer.load(echo_encoder_weights, precision="float32")
    colorizer.network = recorder = BatchSizes(colorizer.network)
    grays = [drum_scene(index) for index in range(DRUM_FRAMES)]
    _, colour = drum_film(colorizer, grays, Stabilization(refresh_mirror=refresh_mirror))
    first = 2  # frame 0: the automatic colours and those with the points, each beside the mirror image
    assert recorder.sizes[:first] == [2, 2]
    later = recorder.sizes[first:]
    assert colour.network_runs > 2 and len(later) >= colour.network_runs - 1
    assert set(later) == ({2} if refresh_mirror else {1}), later


def test_a_films_memory_is_described_by_the_film_encoder_and_a_reference_by_the_exact_one(echo_encoder_weights):
    """In bfloat16 a film's keyframes, compared only with each other (its memory), are described by the encoder's
    bfloat16 copy, in half the time; a reference photo and what is matched to it, by the float32 encoder."""
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    assert Colorizer.load(echo_encoder_weights, precision="float32").film_encoder is None
    colorizer = Colorizer.load(echo_encoder_weights, precision="bfloat16")
    l_small = torch.rand(64, 96) * 100
    exact, film = (colorizer.matcher.encoder_features(l_small, encoder) for encoder in (colorizer.encoder,
                                                                                         colorizer.film_encoder))
    for a, b in zip(exact, film):  # the same features, to bfloat16's precision, not the same to the bit
        assert 0 < np.abs(a - b).max() <= 0.05 * np.abs(a).max()
    matcher = colorizer.matcher
    exact_calls, film_calls = BatchSizes(matcher.encoder), BatchSizes(matcher.film_encoder)  # one size a run
    matcher.encoder, matcher.film_encoder = exact_calls, film_calls
    grays = [drum_scene(index) for index in range(DRUM_FRAMES)]
    _, colour = drum_film(colorizer, grays)
    assert colour.remembers and len(film_calls.sizes) == colour.network_runs and not exact_calls.sizes
    reference = colorizer.prepare_reference(two_textures(checks, stripes, colours=(BLUE, RED), seed=1))
    exact_calls.sizes.clear()
    film_calls.sizes.clear()
    request = check_film_request(DRUM_WIDTH, DRUM_HEIGHT, 8, default_size=colorizer.default_size, takes_hints=True)
    colour = FrameColour(colorizer, request, reference=reference)
    for gray in grays[:8]:
        colour(colorizer.prepare(Image.fromarray(gray, "L"), request.frame_request()))
    assert not film_calls.sizes and len(exact_calls.sizes) == colour.network_runs > 0


def test_the_film_encoder_is_made_by_the_first_film_once_not_at_load(echo_encoder_weights, monkeypatch):
    """Loading in bfloat16 leaves the film encoder unmade (a process of photos never needs it); a film's first
    keyframe makes it, and threads calling it at the same time make it once."""
    import threading
    import time

    import model.colorizer
    from model.weights import OnFirstCall, load_network_and_encoder
    # a file really read here: the app tests' session fixture shares what it read once, film encoder included
    monkeypatch.setattr(model.colorizer, "load_network_and_encoder", load_network_and_encoder)
    colorizer = Colorizer.load(echo_encoder_weights, precision="bfloat16")
    assert not colorizer.film_encoder.made
    drum_film(colorizer, [drum_scene(index) for index in range(4)])
    assert colorizer.film_encoder.made
    l_small = torch.rand(64, 96) * 100
    exact = colorizer.matcher.encoder_features(l_small)
    assert all(a.shape == b.shape for a, b in zip(exact, colorizer.matcher.encoder_features(
        l_small, colorizer.film_encoder)))

    made, start = [], threading.Barrier(4)

    def make():
        made.append(1)
        time.sleep(0.05)  # a slow make: without the lock, every thread would be in it
        return lambda x: x + 1
    once = OnFirstCall(make)
    answers = []
    threads = [threading.Thread(target=lambda: (start.wait(), answers.append(once(1)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [2] * 4 and len(made) == 1
