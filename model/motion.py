"""The colour that follows the motion: a film's frames in order -> the colour to paint on each, steady.

Colorizing each frame alone flickers: the network's guess for a shirt or a sky changes from one frame to the next.
So the network colours keyframes and the colour between them is carried along the motion:

- A keyframe is the first frame of each shot (cut detection on the lightness of small thumbnails), a frame where
  colour points start, a frame after which the flow lost its trust over too much of the picture, and otherwise
  every `keyframe_every` frames. The network colours keyframes only: a shot's first frame, and a frame where points
  start, beside its mirror image as a photo is; the other keyframes on the frame alone, in half the time (their
  colour is blended into what the motion carries; `refresh_mirror` runs those with the mirror image too).
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
- A colour reference (model.reference) steers the keyframes: each is matched to it as a photo is
  (Colorizer.with_reference), its matched points given to the network beside the user's (theirs win), so the
  reference's colours ride the motion between keyframes as the user's do.
- A shot remembers the colours it has shown (`memory`), so that an object keeps its colour while it is in view:
  the network's guess for an object changes as it turns, and a point's colour reaches less of its object, or is
  lost with its point. Each keyframe's gray (the encoder's features of it, model.reference) and the colour it
  showed are kept, the shot's first and the latest; each later keyframe reads its colours from them (cells take
  the colours of the remembered cells most like them), and where the read is sure and the network's own colour
  now differs by memory_step, the remembered colour is given to the network as points, one per block of a grid
  (memory_blocks on the short side). The reference's points win near theirs, the user's come last. A cut, or a
  point that starts, begins the memory again. It needs the weights' ImageNet encoder (format 3).
- The network's colour shows at once where the user's points start; elsewhere, a keyframe's is blended in.

The first frame of a shot is painted exactly as a photo is (Colorizer.predict, then Colorizer.paint): the page's
preview of a film's first frame is that frame. Other frames paint the carried ab (at the working size) onto their
own full-resolution lightness the same way. `stabilize=False` colorizes each frame as a photo, for comparison.
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from model.color import denormalize_ab
from model.colorizer import Colorizer, Prediction, Seen, working_shape
from model.hints import Hint
from model.reference import Reference, joined, spread_points, with_own_points
from model.request import FilmRequest


@dataclass(frozen=True)
class Stabilization:
    """How colour is carried between frames. Chosen on 4 of the project's 18 clips, confirmed on the other 14
    (bench/video.py, bench/RESULTS.md); carry_weight raised from 0.9 when later keyframes went to one pass of the
    network, on the 18 (their colour noisier by itself: at 0.9 the films flickered 3% more)."""
    keyframe_every: int = 6  # the network runs at least every this many frames (1: on every frame)
    carry_weight: float = 0.93  # each frame's share of the colour carried from the previous one where the flow is
    # trusted; the rest comes from the last keyframe's prediction, moved along: colour follows the net within frames
    refresh_area: float = 0.2  # a keyframe comes early when this share of the picture has lost the flow's trust
    lost: float = 0.5  # a pixel whose trust, multiplied over the frames since the keyframe, is below this is lost
    photometric_levels: float = 30.0  # moved gray differing by this much (of 255) costs the flow e^-1 of its trust
    flow_preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST  # DIS at the working size: a few ms a frame
    flow_detail: int = 96  # DIS refines its flow down to the coarsest level whose short side is at least this
    memory: bool = True  # a shot remembers the colours it showed, given back where the network's own then differ
    memory_step: float = 20.0  # ab units: a remembered colour is given where the network's own differs this much
    memory_blocks: int = 12  # ... as points, at most one in each block of a grid this many blocks on the short side
    refresh_mirror: bool = False  # a shot's later keyframes run the network beside their mirror image too, as its
    # first frame (a photo's way) and a frame where points start do: twice the network's time for colour that is
    # blended into what the motion carries (bench/RESULTS.md, 2026-12-07)


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
    """What the network sees of each frame, in order -> the colour to paint on it: the network on keyframes,
    carried along the motion between.

    One per film: it holds the previous frame's small gray, ab and confidence (a few hundred KB) and the shot's
    memory of two keyframes (their cells' features: up to 2 MB), nothing more.
    """

    def __init__(self, colorizer: Colorizer, request: FilmRequest, settings: Stabilization = Stabilization(),
                 reference: Reference | None = None):
        self.colorizer, self.request, self.settings = colorizer, request, settings
        self.reference = reference  # prepared once (Colorizer.prepare_reference): matched at each keyframe
        self.reference_shares: list[float] = []  # the part of each keyframe matched to it
        self.stabilize = request.stabilize
        self.points = request.points_by_frame()
        self.small_height, self.small_width = working_shape(request.height, request.width, request.size)
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
        self.tracker = PointTracker(request.width, request.height, self.small_width, self.small_height)
        # The shot's memory (model.reference): needs the encoder, points, and colour to remember (vividness above 0)
        self.remembers = bool(settings.memory and self.stabilize and self.follows and colorizer.matcher is not None
                              and colorizer.takes_hints and request.vividness > 0)
        self.memory: list[Reference] = []  # the shot's first keyframe and the latest, as references
        self.cells = None  # the latest keyframe described for matching (ReferenceMatcher.cells), or None
        self.memory_points: list[int] = []  # the remembered colours given to each keyframe after a shot's first
        self.index = 0
        self.previous = None  # (h, w) uint8 small gray of the previous frame
        self.ab = None  # (h, w, 2) float32 normalized ab of the previous frame
        self.target = None  # (h, w, 2) the last keyframe's prediction, moved along with the frames since
        self.confidence = None  # (h, w) trust in the moved target: 1 on a keyframe, times each step's trust
        self.since_keyframe = 0
        self.network_runs = 0
        self.cut_frames: list[int] = []

    def __call__(self, seen: Seen) -> Prediction:
        """What the network sees of the next frame (Colorizer.prepare, without points) -> the colour to paint."""
        small8 = np.asarray(seen.small)  # (h, w) uint8
        cut, flows, previous = self.follow(small8)  # a new shot?, the motion since the previous frame, points moved
        if not self.stabilize or not self.follows:  # each frame as a photo
            return self.predict(seen)
        if cut:  # a new shot starts from the network, painted as a photo is
            return self.keyframe(seen)
        return self.carry(seen, small8, previous, *flows)

    def follow(self, small8: np.ndarray) -> tuple[bool, tuple, np.ndarray | None]:
        """The next frame's (h, w) small gray -> (whether a shot starts with it, its (backward, forward) flows or
        (None, None), the previous frame's small gray). Moves the points along, adds the frame's new ones."""
        cut = self.cuts(small8)
        if cut:
            self.cut_frames.append(self.index)
        backward = forward = None
        if not cut and self.follows and (self.stabilize or self.tracker.points):
            backward = self.flow.calc(small8, self.previous, None)  # (h, w, 2) current pixel -> where it was
            forward = self.flow.calc(self.previous, small8, None)
        if cut:
            self.tracker.clear()  # a point belongs to its shot
        elif self.tracker.points and self.follows:
            self.tracker.move(forward, backward)
        self.tracker.add(self.points.get(self.index, []))
        previous, self.previous = self.previous, small8
        self.index += 1
        return cut, (backward, forward), previous

    def keyframe(self, seen: Seen) -> Prediction:
        """The first frame of a shot: the network's colour, which the frames after it carry."""
        self.memory = []  # nothing of the shot before
        prediction = self.predict(seen)
        self.ab = self.target = working_ab(prediction, seen)
        self.confidence = np.ones(self.ab.shape[:2], np.float32)
        self.since_keyframe = 0
        self.remember()
        return prediction

    def carry(self, seen: Seen, small8: np.ndarray, previous: np.ndarray, backward: np.ndarray,
              forward: np.ndarray) -> Prediction:
        """A frame within a shot: the previous frame's colour moved along the flow where it is trusted, the rest
        from the last keyframe's prediction moved along too (the network runs again when it is time)."""
        carried = warp(self.ab, backward, self.grid)
        trust = flow_confidence(backward, forward, previous, small8, self.grid, self.settings.photometric_levels)
        self.target = warp(self.target, backward, self.grid)
        self.confidence = trust * warp(self.confidence, backward, self.grid)
        self.since_keyframe += 1
        lost = float((self.confidence < self.settings.lost).mean())
        weight = self.settings.carry_weight * trust  # (h, w)
        new_points = (self.index - 1) in self.points  # points start on this frame (follow has counted it)
        if new_points or self.since_keyframe >= self.settings.keyframe_every or lost > self.settings.refresh_area:
            if new_points:  # the user gives colours here: the shot remembers what they make from now on
                self.memory = []
            prediction = self.predict(seen, mirror=new_points or self.settings.refresh_mirror)
            self.target = working_ab(prediction, seen)
            if new_points and prediction.reach is not None:  # where the user gives colour, it shows at once
                weight *= 1 - cv2.resize(prediction.reach.numpy(), (self.small_width, self.small_height),
                                         interpolation=cv2.INTER_AREA)
            self.confidence = np.ones_like(self.confidence)
            self.since_keyframe = 0
        self.ab = weight[..., None] * carried + (1 - weight[..., None]) * self.target  # (h, w, 2)
        if self.since_keyframe == 0:
            self.remember()  # what this keyframe shows, most of it carried from the frames before
        return Prediction(torch.from_numpy(np.ascontiguousarray(self.ab.transpose(2, 0, 1)))[None])

    def predict(self, seen: Seen, mirror: bool = True) -> Prediction:
        """The network's colour for this frame, with the points that ride along, the reference's matched ones
        (the same steps as a photo's: Colorizer.prepare) and the colours the shot remembers. mirror: beside the
        frame's mirror image, as a photo (Colorizer.predict)."""
        self.network_runs += 1
        own = tuple(self.tracker.hints())
        seen = seen.with_points(own)
        # the keyframe described for matching once, for the reference and the memory (the encoder's one run)
        matching = self.reference is not None or self.remembers
        # with no reference the cells serve the memory alone, compared only with each other: the film encoder
        self.cells = self.colorizer.matcher.cells(seen.source, among_themselves=self.reference is None) \
            if matching else None
        if self.reference is not None:
            seen = self.colorizer.with_reference(seen, self.reference, self.cells)
            self.reference_shares.append(seen.reference_share)
        if self.memory:
            seen = self.recall(seen, seen.points[:len(seen.points) - len(own)], own, mirror)
        return self.colorizer.predict(seen, mirror)

    def recall(self, seen: Seen, referenced: tuple[Hint, ...], own: tuple[Hint, ...], mirror: bool = True) -> Seen:
        """What the network sees of a keyframe, with the colours the shot remembers as points where the read is
        sure and the network's own colour differs by more than memory_step (where it agrees, a point would change
        nothing and cost a second run). The reference's points (referenced) win near theirs; the user's (own) come
        last, painting over the memory's where they are (the memory is what their colours made)."""
        recalled = self.colorizer.matcher.read(self.cells, joined(*self.memory))  # on the 1/8 grid of matching
        grid = recalled.kept.shape
        automatic = self.colorizer.predict(seen.with_points(()), mirror).ab_small[0]  # remembered: the net runs once
        automatic = denormalize_ab(automatic).numpy() / seen.vividness  # (2, h, w) at vividness 1, as remembered
        network = np.stack([cv2.resize(plane, (grid[1], grid[0]), interpolation=cv2.INTER_AREA) for plane in automatic])
        differs = recalled.kept & (np.linalg.norm(recalled.ab - network, axis=0) > self.settings.memory_step)
        width, height = seen.source.size
        scale = width / self.cells.l_small.shape[1], height / self.cells.l_small.shape[0]  # pixels per matching pixel
        points = spread_points(differs, recalled.confidence, recalled.ab, scale, (width, height),
                               blocks=self.settings.memory_blocks)
        self.memory_points.append(len(points))
        if not points:
            return seen
        return seen.with_points(tuple(with_own_points(points, list(referenced), seen.source.size)) + own)

    def remember(self) -> None:
        """The keyframe just shown (self.ab) joins the shot's memory, at vividness 1 (the memory's points are
        asked at the film's vividness): as its first, or as the latest (the first stays)."""
        if not self.remembers:
            return
        ab = denormalize_ab(torch.from_numpy(np.ascontiguousarray(self.ab.transpose(2, 0, 1)))).numpy()
        latest = self.colorizer.matcher.remember(self.cells, ab / self.request.vividness)
        self.memory = self.memory[:1] + [latest]

    @property
    def reference_share(self) -> float | None:
        """The mean part of the keyframes matched to the reference; None without one."""
        if self.reference is None:
            return None
        return float(np.mean(self.reference_shares)) if self.reference_shares else 0.0


def working_ab(prediction: Prediction, seen: Seen) -> np.ndarray:
    """A prediction -> (h, w, 2) float32 normalized ab at the working size, the points' change applied."""
    return np.ascontiguousarray(prediction.ab_at_working_size(seen.l_small)[0].numpy().transpose(1, 2, 0))
