"""Colorizer: a PIL image in, a colorized PIL RGB image of the same size out.

    colorizer = Colorizer.load("weights/colorizer.pt")
    color = colorizer(Image.open("old.jpg"))          # any mode, any size; EXIF orientation honoured
    color = colorizer(image, hints=[{"x": 120, "y": 80, "color": "#c02020"}], vividness=1.4)
    color = colorizer(image, reference=Image.open("same_street_in_colour.jpg"))  # color.info["reference_share"]

    request = colorizer.check(image, size="256", hints=points, text=True)  # checks once (model.request) ...
    color = colorizer.colorize(image, request)                             # ... then colorizes what it checked

    seen = colorizer.prepare(image, request)        # the two ends every caller shares (a photo, a film's frame, the
    color = colorizer.paint(seen, colorizer.predict(seen))  # page's preview of a film): colorize is these two

Before anything else the gray is repaired (model.restore): by default only a photo taken for an old print, whose
dust, scratches and cracks are filled, grain calmed and fading lifted; restore="on" repairs any photo, "off"
none. The network runs on a small copy of the photo (short side `size`) and on its mirror image (with the hints
mirrored too); their ab, averaged, is upsampled and joined to the full-resolution L, so the output keeps the
input's size, aspect and exact lightness (the repaired lightness where a repair was made), and its transparency:
an input with an alpha channel (or a transparent palette colour) gives an RGBA result with the same alpha. A
weights file carries a chroma gain (see `expand_chroma`): the operating point chosen for it between accuracy and
colourfulness, which is vividness 1. The full-resolution work is done in strips of about a megapixel, so memory stays bounded whatever the photo's size.
A colour reference (model.reference) gives the regions of the photo that match regions of it their colours: after
the repair, the matched colours become colour points, the user's own points winning where both are given; the
result's info["reference_share"] says how much of the photo matched. It needs a weights file with an ImageNet
encoder (format 3), whose features the matching uses: Colorizer.encoder, None for older files.
A Colorizer remembers the repair and the network's automatic colours of the latest few photos it was given, so
that the same photo sent again with other points or another vividness costs only what changed.
"""
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from model.color import (AB_SCALE, denormalize_ab, gray8_of_rgb8, gray_to_l, lab_to_srgb8, lightness_of_uint8,
                         normalize_ab, normalize_l)
from model.generator import pad_to_stride
from model.hints import Hint, hint_layer
from model.points import EDGE_SCALE, guide_shape, guided_coefficients, point_change, to_grid
from model.reference import Cells, Reference, ReferenceMatcher, with_own_points
from model.request import ColorRequest, check_request
from model.restore import restore as restore_gray, summary as repair_summary
from model.threads import share_cores
from model.request import MAX_SIZE, MAX_VIVIDNESS, MIN_SIZE, RequestError  # noqa: F401 (for callers: limits, error)
from model.weights import DEFAULT_WEIGHTS, default_precision, file_sha256, load_network_and_encoder, takes_hints

# The network's input is at most MAX_ASPECT * size long, even for a panorama or a 4000x8 strip. The shipped net
# trained on 176-px crops of photos resized to short side 192 (the model card); inputs much larger than that in
# either direction brought out streaks of false colour.
MAX_ASPECT = 2

STRIP_PIXELS = 1 << 20  # pixels painted at a time: bounds the float32 temporaries to some tens of MB
# The network's automatic colours for this many of the latest working-size inputs are kept (about 0.2 MB each for
# the shipped model), and as many repairs (model.restore): a page that adds a colour point, or moves the vividness
# slider, sends the same photo again, and neither needs computing again. A repaired photo is kept only up to
# REMEMBERED_REPAIR_PIXELS; "nothing to repair", the usual answer, costs nothing to keep.
REMEMBERED = 4
REMEMBERED_REPAIR_PIXELS = 1 << 22
_UNKNOWN = object()

_GRAY_MODES = {"1", "L", "LA", "La"}
_WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 255}


class Colorizer:
    def __init__(self, network: torch.jit.ScriptModule, info: dict, device: str | torch.device = "cpu",
                 sha256: str = "", precision: str = "float32", encoder: torch.jit.ScriptModule | None = None,
                 film_encoder: Callable | None = None):
        self.network = network
        # the network's ImageNet encoder on its own, to the levels matched with, float32
        # (model.weights.load_network_and_encoder): what matches a photo to a colour reference; None for weights
        # without one (formats 1 and 2), which take no reference. film_encoder: the same in bfloat16, for a film's
        # memory of its own keyframes (made by its first call: model.weights.OnFirstCall), or None (float32
        # precision: the encoder serves there too)
        self.encoder, self.film_encoder = encoder, film_encoder
        self.matcher = ReferenceMatcher(encoder, device=device, film_encoder=film_encoder) \
            if encoder is not None else None
        self.info = info
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = getattr(torch, precision)
        self.stride = int(info["stride"])
        self.default_size = int(info["working_size"])
        self.chroma_gain = float(info.get("chroma_gain", 1.0))
        # a photo the repair changed (an old print: softer and more faded than what the net learned from, which
        # makes it timid) is painted at a gain of its own, chosen by training.calibrate --old-prints
        self.repaired_gain = float(info.get("repaired_chroma_gain", self.chroma_gain))
        # how much of the photo's lightness a colour point's region may cross (model.points); a network trained
        # with recoloured points (training --recolour-points) carries its own
        self.edge_scale = float(info.get("points_edge_scale", EDGE_SCALE))
        self.takes_hints = takes_hints(info)
        self.sha256 = sha256
        self._remembered = Remembered(REMEMBERED)  # a working-size L -> the network's automatic colours
        self._repairs = Remembered(REMEMBERED)  # (mode, a gray photo) -> (its repair, or None:
        # nothing to repair; what the repair did)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu",
             precision: str | None = None) -> "Colorizer":
        """Loads an exported weights file; raises model.weights.WeightsError with a message saying what to do.

        precision: "float32", "bfloat16", or None for the fastest this device computes natively (bfloat16 on CPUs
        with AVX512-BF16 or AMX: about 2x faster, the same image within a level or two of 255).
        """
        share_cores()  # torch, OpenCV and the video codec share the cores (model.threads); once per process
        precision = precision or default_precision(device)
        network, info, encoder, film_encoder = load_network_and_encoder(Path(path), device, precision)
        return cls(network, info, device, sha256=file_sha256(path), precision=precision, encoder=encoder,
                   film_encoder=film_encoder)

    def at_operating_point(self, chroma_gain: float, repaired_gain: float | None = None,
                           edge_scale: float | None = None) -> "Colorizer":
        """The same network at another chroma gain, and for repaired photos another repaired_gain (None: the
        same as chroma_gain); training.calibrate's sweep. edge_scale: the colour points' (model.points; None:
        this one's). The network is shared, and what this Colorizer remembers (the network's answers before the
        gain, the repairs) too."""
        info = {**self.info, "chroma_gain": chroma_gain}
        info["repaired_chroma_gain"] = chroma_gain if repaired_gain is None else repaired_gain
        info["points_edge_scale"] = self.edge_scale if edge_scale is None else edge_scale
        other = Colorizer(self.network, info, self.device, self.sha256, self.precision, self.encoder,
                          self.film_encoder)
        other._remembered, other._repairs = self._remembered, self._repairs
        return other

    def __call__(self, image: Image.Image, size: int | None = None, hints: list | None = None,
                 vividness: float | None = None, restore: str | None = "auto",
                 reference: "Image.Image | Reference | None" = None) -> Image.Image:
        """image -> its colorized version, the same size and lightness.

        size: the working size (short side the network sees; default the model's own). hints: a list of
        {"x": int, "y": int, "color": "#rrggbb"} in the upright image's pixels (model.hints). vividness: 0 (gray)
        to 2 (twice the colour); None or 1 is the model's operating point. restore: "auto" repairs a photo taken for
        an old print, "on" any photo, "off" none (model.restore); the result has the repaired lightness.
        reference: a colour photo (or one prepared by self.prepare_reference) whose matching regions give theirs
        their colours (model.reference); the hints win where both are given; the result's
        info["reference_share"] is the part of the photo that matched, 0 to 1. Unless restore is "off", the
        result's info["repair"] says what the repair did (model.restore.summary).
        Raises model.request.RequestError (a ValueError) naming a value that is wrong.
        """
        return self.colorize(image, self.check(image, size=size, hints=hints, vividness=vividness, restore=restore,
                                               reference=reference))

    def check(self, image: Image.Image | tuple[int, int], *, size=None, hints=None, vividness=None, restore=None,
              reference=None, text: bool = False) -> ColorRequest:
        """The request's values checked for this image (or its upright (width, height)) and this model: sizes,
        vividness, restore mode, and hints, which must fit the image and need a model that takes them; a reference
        (a PIL image, or one prepared by self.prepare_reference), which must be a colour photo and needs a model
        with an encoder. text: size, vividness and restore are text (a form field, a command-line argument).
        Raises RequestError."""
        width, height = image if isinstance(image, tuple) else upright_size(image)
        request = check_request(width, height, size=size, vividness=vividness, hints=hints, restore=restore,
                                default_size=self.default_size, takes_hints=self.takes_hints, text=text)
        if reference is not None:
            prepared = reference if isinstance(reference, Reference) else self.prepare_reference(reference)
            request = replace(request, reference=prepared)
        return request

    def prepare_reference(self, reference: Image.Image) -> Reference:
        """A colour reference -> it checked and prepared for matching, once for any number of photos (a folder).
        Raises RequestError("reference", ...): not a colour photo, too large, or a model without an encoder."""
        if self.matcher is None or not self.takes_hints:
            raise RequestError("reference", "reference: this model has no ImageNet encoder to match photos with "
                                            "(weights of format 3 have one, as the shipped weights do): send no "
                                            "reference, or use such a weights file")
        return self.matcher.prepare(reference)

    def colorize(self, image: Image.Image, request: ColorRequest) -> Image.Image:
        """image -> its colorized version, as `request` (from self.check, for this image) asks."""
        image = upright(image)
        seen = self.prepare(image, request)
        result = self.paint(seen, self.predict(seen))
        alpha = alpha_of(image)
        if alpha is not None:
            result.putalpha(alpha)
        if seen.reference_share is not None:
            result.info["reference_share"] = seen.reference_share
        if seen.repair is not None:
            result.info["repair"] = seen.repair
        return result

    # The two ends every caller shares (a photo, a film's frame, the page's preview of a film), and the network
    # between them: prepare what the network sees, predict, paint onto the full-resolution lightness. A film's
    # frame between keyframes skips predict and paints the colour carried along the motion (model.motion).

    def prepare(self, image: Image.Image, request: ColorRequest) -> "Seen":
        """An upright image (any mode; a film's frame is RGB) -> what the network sees, as `request` asks: its
        gray repaired (request.restore), a small copy's L at the working size, the points on the working grid; with
        a reference, its matched colours among the points (the request's own winning where both are)."""
        source, repair = self.repaired(as_gray(image), request.restore)  # mode L or F (gray in [0, 1])
        width, height = source.size
        if (width, height) != (request.width, request.height):
            raise ValueError(f"this request was checked for a {request.width}x{request.height} image, not for this "
                             f"{width}x{height} one: check it with this image")
        small_height, small_width = working_shape(height, width, request.size)
        # The network's input is made the way training made its crops: resized in sRGB, then converted to L.
        small = source.resize((small_width, small_height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        seen = Seen(source, small, pixels_to_lightness(small), (), None, request.vividness,
                    repair=repair).with_points(request.hints)
        return seen if request.reference is None else self.with_reference(seen, request.reference)

    def with_reference(self, seen: "Seen", reference: Reference, cells: Cells | None = None) -> "Seen":
        """What the network sees, with a prepared reference's colours (matched on the repaired gray) among its
        points, its own winning near theirs (model.reference.with_own_points); and the share of it matched.
        cells: the gray described for matching already (self.matcher.cells(seen.source): a film's keyframe, also
        read against the shot's memory)."""
        matched = self.matcher.match_gray(seen.source, reference, cells)
        points = with_own_points(matched.hints, seen.points, seen.source.size)
        return replace(seen.with_points(tuple(points)), reference_share=matched.share)

    def predict(self, seen: "Seen", mirror: bool = True) -> "Prediction":
        """What the network sees -> its colours at the operating point and the request's vividness, and what the
        colour points change, kept to their regions (model.points) as coefficients that paint applies.
        mirror: False runs the network on the picture alone, not beside its mirror image: half the time, a little
        less accurate (a film's later keyframes, whose colour is blended into what the motion carries)."""
        automatic = self._network(seen.l_small, mirror=mirror)  # (1, 2, h, w) normalized, as the network gives it
        gain = self.repaired_gain if seen.repair and seen.repair["repaired"] else self.chroma_gain
        ab_small = at_vividness(expand_chroma(automatic, gain), seen.vividness)
        if not seen.points:
            return Prediction(ab_small)
        pointed = self._network(seen.l_small, seen.hint_layer, mirror)
        change, own = at_vividness(pointed, seen.vividness) - ab_small, pointed - automatic
        coefficients, reach = point_change_coefficients(seen.source, ab_small, change, own, list(seen.points),
                                                        seen.vividness, self.edge_scale)
        return Prediction(ab_small, coefficients, reach)

    def forget(self) -> None:
        """Forgets the network's answers and the repairs it remembers: the next photo is computed whole, even one
        sent before (bench.e2e times the whole work, not a page's edit of the same photo)."""
        self._remembered.clear()
        self._repairs.clear()

    def paint(self, seen: "Seen", prediction: "Prediction") -> Image.Image:
        """A prediction (or a film's carried colour) joined to the full-resolution lightness -> mode RGB image."""
        return paint(seen.source, prediction.ab_small, prediction.change)

    def _network(self, l_small: torch.Tensor, hints: torch.Tensor | None = None, mirror: bool = True
                 ) -> torch.Tensor:
        """(h, w) L and an optional (3, h, w) hint layer -> (1, 2, h, w) normalized ab at the working resolution,
        as the network gives it (before the chroma gain). Without hints, the answers for the REMEMBERED latest
        inputs are kept and given again for the same L (and mirror), to the bit."""
        if hints is not None:
            return self._run(l_small, hints, mirror)
        key = (Remembered.key(l_small.numpy()), mirror)
        ab = self._remembered.get(key)
        if ab is None:
            ab = self._run(l_small, mirror=mirror)
            self._remembered.put(key, ab)
        return ab.clone()

    def repaired(self, source: Image.Image, mode: str) -> tuple[Image.Image, dict | None]:
        """A gray image (mode L or F) -> (it after model.restore in this mode, the same object when nothing was
        repaired; what the repair did, model.restore.summary, None for "off"). The latest answers are remembered
        (REMEMBERED, REMEMBERED_REPAIR_PIXELS)."""
        if mode == "off":
            return source, None
        pixels = np.asarray(source)
        key = (mode, Remembered.key(pixels))
        known = self._repairs.get(key, _UNKNOWN)
        if known is not _UNKNOWN:
            result, said = known
            return (source if result is None else Image.fromarray(result)), said
        result, report = restore_gray(pixels, mode)
        said = repair_summary(report)
        if result is pixels:
            self._repairs.put(key, (None, said))
            return source, said
        if result.size <= REMEMBERED_REPAIR_PIXELS:
            self._repairs.put(key, (result, said))
        return Image.fromarray(result), said

    @torch.inference_mode()
    def _run(self, l_small: torch.Tensor, hints: torch.Tensor | None = None, mirror: bool = True) -> torch.Tensor:
        """_network, computed: the picture and its mirror image in one batch (mirror=False: the picture alone)."""
        height, width = l_small.shape
        l_norm = pad_to_stride(normalize_l(l_small)[None, None], self.stride).to(self.device, self.dtype)
        # The picture and its mirror image in one batch, the mirror's colours mirrored back and averaged: a
        # little more accurate than one pass, and a mirrored photo gets mirrored colours (and mirrored hints).
        batch = torch.cat([l_norm, l_norm.flip(-1)]) if mirror else l_norm
        if hints is None:
            predicted = self.network(batch)
        else:
            layer = pad_to_stride(hints[None], self.stride, mode="constant").to(self.device, self.dtype)
            predicted = self.network(batch, torch.cat([layer, layer.flip(-1)]) if mirror else layer)
        ab = 0.5 * (predicted[:1] + predicted[1:].flip(-1)) if mirror else predicted
        ab = ab[..., :height, :width].float().cpu()
        # A sliver of a photo (a few pixels across) makes feature maps one pixel wide at the bottom of the net;
        # bfloat16 kernels have returned NaN there. No colour is the honest answer for such pixels, not garbage.
        return torch.nan_to_num_(ab, nan=0.0)


@dataclass(frozen=True)
class Seen:
    """What the network sees of one picture (Colorizer.prepare), and the full-resolution gray it is painted onto.
    A reference photo's colours arrive as points (model.reference), among the user's own."""
    source: Image.Image  # the upright gray at full resolution, repaired as asked: mode L, or F in [0, 1]
    small: Image.Image  # the same at the working size (h, w), as resized for the network: a film's flow runs on it
    l_small: torch.Tensor  # (h, w) float32 Lab L in [0, 100] of `small`
    points: tuple[Hint, ...]  # colour points in the source's pixels
    hint_layer: torch.Tensor | None  # (3, h, w) the points on the working grid (model.hints); None without points
    vividness: float  # 0 gray, 1 the operating point, 2 twice its colour
    reference_share: float | None = None  # the part of the picture matched to a reference; None without one
    repair: dict | None = None  # what the repair did (model.restore.summary); None when it was not asked

    def with_points(self, points: tuple[Hint, ...]) -> "Seen":
        """The same picture with other colour points (a film's points, moved along the motion)."""
        width, height = self.source.size
        layer = hint_layer(points, width, height, *self.small.size) if points else None
        return replace(self, points=tuple(points), hint_layer=layer)


@dataclass(frozen=True)
class Prediction:
    """Colour to paint (Colorizer.predict, or a film's colour carried along the motion)."""
    ab_small: torch.Tensor  # (1, 2, h, w) normalized ab at the working size, without the points' change
    change: tuple[torch.Tensor, torch.Tensor] | None = None  # the points' (slope, offset), each (2, gh, gw) on the
    # guide grid (model.points): slope * L + offset is added at full resolution; None without points
    reach: torch.Tensor | None = None  # (gh, gw) in [0, 1]: how far the points' colour reaches; None without points

    def ab_at_working_size(self, l_small: torch.Tensor) -> torch.Tensor:
        """(1, 2, h, w) the painted colour at the working size, the points' change applied to the (h, w) L there:
        what a film carries from a keyframe."""
        if self.change is None:
            return self.ab_small
        height, width = l_small.shape
        slope, offset = (F.interpolate(t[None], size=(height, width), mode="bilinear", align_corners=False)
                         for t in self.change)
        return (self.ab_small + slope * l_small + offset).clamp_(-1, 1)


class Remembered:
    """The answers to the latest `size` questions, by key; safe to share between threads (a film's job thread and
    the requests of the web process use one Colorizer)."""

    def __init__(self, size: int):
        self.size = size
        self.answers = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def key(array: np.ndarray) -> tuple:
        """An array -> a key for its exact contents (shape, type and a 128-bit hash of its bytes)."""
        array = np.ascontiguousarray(array)
        return array.shape, array.dtype.str, hashlib.blake2b(array.data, digest_size=16).digest()

    def get(self, key, default=None):
        with self.lock:
            if key not in self.answers:
                return default
            self.answers.move_to_end(key)
            return self.answers[key]

    def put(self, key, answer) -> None:
        with self.lock:
            self.answers[key] = answer
            self.answers.move_to_end(key)
            while len(self.answers) > self.size:
                self.answers.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.answers.clear()


def at_vividness(ab: torch.Tensor, vividness: float) -> torch.Tensor:
    """Normalized ab -> its colours `vividness` times as strong (1: unchanged, the same tensor)."""
    return ab if vividness == 1 else (ab * vividness).clamp_(-1, 1)


def asked_ab(points: list, vividness: float = 1.0) -> torch.Tensor:
    """Colour points (model.hints.Hint) -> (P, 2) their normalized ab, at the picture's vividness: at 0 a point
    is as gray as everything else, at 2 twice as strong."""
    return at_vividness(normalize_ab(torch.tensor([[p.a, p.b] for p in points], dtype=torch.float32)), vividness)


def expand_chroma(ab: torch.Tensor, gain: float) -> torch.Tensor:
    """(B, 2, h, w) normalized ab -> each picture's colours moved `gain` times as far from its mean colour.

    A net trained for accuracy predicts, where it is unsure of a hue, colours close to the average of the
    candidates: muted. Scaling the distances from the picture's mean colour, rather than from gray, makes it
    more colourful without deepening a cast the whole picture has. (For a net that predicts the expected colour
    it is also the most accurate way to add spread: minimizing squared error minus a weight times the variance
    of the colours gives exactly this form.) gain 1 changes nothing. Colour points do not go through it: what
    they change is added afterwards, at gain 1 (model.points), since where the user gave the colour the net is
    not unsure.
    """
    if gain == 1:
        return ab
    mean = ab.mean(dim=(-2, -1), keepdim=True)
    return (mean + gain * (ab - mean)).clamp_(-1, 1)


@torch.inference_mode()
def point_change_coefficients(source: Image.Image, ab_small: torch.Tensor, change_small: torch.Tensor,
                              own_small: torch.Tensor, points: list, vividness: float = 1.0,
                              edge_scale: float = EDGE_SCALE) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """What colour points change, kept to their regions (model.points), as the guided filter's (slope, offset),
    each (2, gh, gw) on the guide grid: the full-resolution change is slope * L + offset, upsampled; and the
    (gh, gw) points' reach.

    ab_small: (1, 2, h, w) the picture without points, as painted; change_small: (1, 2, h, w) the network's change
    for the points; own_small: (1, 2, h, w) the network's own answer to them (with them minus without: its edges
    count); vividness: as the rest of the picture, the points' own colours are this many times as strong;
    edge_scale: how much of the photo's lightness a point's region may cross (model.points.point_change)."""
    width, height = source.size
    guide_height, guide_width = guide_shape(height, width)
    full = (guide_width, guide_height) == (width, height)
    guide = source if full else source.resize((guide_width, guide_height), Image.Resampling.BOX)
    l_guide = pixels_to_lightness(guide)  # (gh, gw)
    base, change, own = (F.interpolate(t, size=(guide_height, guide_width), mode="bilinear", align_corners=False)[0]
                         for t in (ab_small, change_small, own_small))
    total, reach = kept_change(l_guide, points, (width, height), base, change, own, vividness, edge_scale)
    return guided_coefficients(l_guide, total), reach


def kept_change(l_grid: torch.Tensor, points: list, size: tuple[int, int], base: torch.Tensor, change: torch.Tensor,
                own: torch.Tensor, vividness: float, edge_scale: float = EDGE_SCALE
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """model.points.point_change on a grid of (H, W) lightness l_grid, for points in the pixels of a picture of
    `size` (width, height) that the grid covers; base, change, own: (2, H, W) on the grid."""
    height, width = l_grid.shape
    seeds = [to_grid(p.x, p.y, *size, width, height) for p in points]
    return point_change(l_grid.numpy(), base, change, seeds, asked_ab(points, vividness), own, edge_scale)


@torch.inference_mode()
def paint(source: Image.Image, ab_small: torch.Tensor,
          change: tuple[torch.Tensor, torch.Tensor] | None = None) -> Image.Image:
    """Full-resolution L of source joined with ab_small upsampled bilinearly to its size, in strips of rows.

    change: colour points' (slope, offset), each (2, gh, gw) (point_change_coefficients), upsampled the same way;
    slope * L + offset is added to the ab.
    """
    width, height = source.size
    ab_grid = np.ascontiguousarray(ab_small[0].numpy())  # (2, h, w)
    if change is not None:
        coefficients = np.ascontiguousarray(torch.cat(change).numpy())  # (4, gh, gw)
    result = Image.new("RGB", (width, height))
    rows = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        l_strip = pixels_to_lightness(source.crop((0, top, width, bottom)))  # (rows, W)
        ab_strip = upsample_rows(ab_grid, width, height, top, bottom)  # (2, rows, W) normalized
        if change is not None:
            strip_coefficients = upsample_rows(coefficients, width, height, top, bottom)  # slope a, b; offset a, b
            ab_strip += strip_coefficients[:2] * l_strip
            ab_strip += strip_coefficients[2:]
        a, b = denormalize_ab(ab_strip).clamp_(-AB_SCALE, AB_SCALE)
        strip = lab_to_srgb8(l_strip, a, b)  # (rows, W, 3) uint8; L kept exactly, the gamut fitted by chroma
        result.paste(Image.fromarray(strip.numpy()), (0, top))
    return result


def upsample_rows(grid: np.ndarray, width: int, height: int, top: int, bottom: int) -> torch.Tensor:
    """Rows top..bottom of the bilinear resize of a (C, h, w) float32 grid to (height, width), as F.interpolate
    computes it (align_corners=False) -> (C, rows, width). A strip's output pixel (x, y) reads the grid at
    ((x + 0.5) w / width - 0.5, (top + y + 0.5) h / height - 0.5); OpenCV's replicated border is F.interpolate's
    clamp. OpenCV's warp, vectorized, is faster than the same gathers in torch; one plane at a time, so that each
    comes out contiguous for what follows."""
    scale_x, scale_y = grid.shape[2] / width, grid.shape[1] / height
    to_grid = np.float32([[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, (top + 0.5) * scale_y - 0.5]])
    strip = np.empty((grid.shape[0], bottom - top, width), np.float32)
    for plane, out in zip(grid, strip):
        cv2.warpAffine(plane, to_grid, (width, bottom - top), dst=out,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return torch.from_numpy(strip)


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The network's input shape: short side `size`, long side at most MAX_ASPECT * size, neither below 1."""
    scale = size / min(height, width)
    scale = min(scale, MAX_ASPECT * size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the image as displayed, its EXIF orientation applied, without transposing any pixels."""
    width, height = image.size
    return (height, width) if image.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (width, height)


def upright(image: Image.Image) -> Image.Image:
    """The image as it should be displayed: EXIF orientation applied. No copy when there is nothing to do."""
    if image.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(image)
    return image


def as_gray(image: Image.Image) -> Image.Image:
    """Any Pillow image -> mode L (8-bit gray) or F (wider gray scaled to [0, 1]), of the image's own lightness.

    A colour image (RGB, P, RGBA, CMYK...: alpha dropped) becomes the gray of the same luminance, so of the same
    Lab L to within half a level of 255: the network sees only lightness anyway, and from here on a colour photo
    costs what a gray one does (one plane to resize and paint, not three).
    """
    if image.mode == "L":
        return image
    if image.mode in _WIDE_MODES:  # 16-bit and float gray: scale to [0, 1], never clip to 8 bits
        scale = _WIDE_MODES[image.mode]
        return image.convert("F").point(lambda value: value / scale)
    if image.mode in _GRAY_MODES:
        return image.convert("L")
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # (H, W, 3): a film's frame is RGB
    return Image.fromarray(gray8_of_rgb8(rgb[..., 0], rgb[..., 1], rgb[..., 2]), "L")


def alpha_of(image: Image.Image) -> Image.Image | None:
    """The image's transparency as a mode L alpha channel (from an alpha band, or a palette's or a single
    colour's transparency), or None when it has none or every pixel is opaque."""
    if not image.has_transparency_data:
        return None
    alpha = image.getchannel("A") if "A" in image.getbands() else image.convert("RGBA").getchannel("A")
    return None if alpha.getextrema() == (255, 255) else alpha


def pixels_to_lightness(image: Image.Image) -> torch.Tensor:
    """An image of mode L or F -> (H, W) float32 Lab L in [0, 100]."""
    if image.mode == "F":
        return gray_to_l(torch.from_numpy(np.array(image, dtype=np.float32)).clamp(0, 1))
    return lightness_of_uint8(torch.from_numpy(np.array(image)))  # a copy: torch wants writable memory


def lightness(image: Image.Image) -> torch.Tensor:
    """Any Pillow image -> (H, W) float32 Lab L in [0, 100], EXIF orientation applied."""
    return pixels_to_lightness(as_gray(upright(image)))
