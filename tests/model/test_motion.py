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
