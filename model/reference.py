"""Colours from a reference photo: regions of a gray photo matched to regions of a colour photo, their colours
handed to the Colorizer as colour points.

    result = colorizer(gray_photo, reference=reference_photo)       # the Colorizer's own encoder matches them;
    result.info["reference_share"]                                   # the part of the photo that matched

    matcher = ReferenceMatcher.load("weights/colorizer.pt")          # or on their own: the file's ImageNet encoder
    prepared = matcher.prepare(reference_photo)                      # checked and described once, for many photos
    colours = matcher.match(gray_photo, prepared)                    # -> ReferenceColours(hints, share, ...)

Colour is gone from the gray photo, so the matching uses what survives its loss: the ImageNet encoder's features
of each photo's lightness (model.efficientnet, which the shipped weights file carries) and the lightness itself.

1. Both photos at MATCH_SIDE on their short side; the encoder's features at 1/8 and 1/16 of that, the latter
   enlarged to the 1/8 grid ("cells", 8 x 8 pixels each); each part centred on the two photos' mean and scaled to
   unit length, so the similarity of two cells is a weighted mean of cosines. Without an encoder (weights of
   format 1 or 2) a small texture description of the lightness (its spread and gradients at two scales) stands in.
2. Each cell of the gray photo takes the reference cell most like it, less a penalty for the difference of their
   mean lightness (a cell that is far darker or lighter is not the same surface in the same light).
3. A match is kept only when it is sure of its COLOUR: its similarity is at least MIN_SIMILARITY, and it beats by
   at least MIN_MARGIN every reference cell whose colour differs by more than COLOUR_STEP (a ratio test over
   colours: the sky of the reference matching three blue cells equally is no doubt; a car matching a red car and a
   blue car equally is). Reference cells that straddle an edge of colour are not given.
4. The kept cells' colours become at most MAX_POINTS colour points, one per block of the photo, at the cell most
   sure of itself and agreeing with its neighbours; the Colorizer keeps each on its region (model.points). Where
   nothing matched, no point: the automatic colours stay.

`share` is the part of the gray photo's cells that matched (what an X-Colorizer-Reference header reports). A
reference that is not an image, too large, or itself gray raises model.request.RequestError naming "reference".

A film remembers its own colours with the same descriptions (model.motion): a keyframe's gray, described once
(cells), and the colour it showed become a Reference (remember), and the shot's later keyframes read their colours
from it (read). A read is not a match: a film's memory is of the same scene, where a surface it shows in two
colours (an object's colour fading) is the memory's doubt, not another scene's; so each cell takes the colours of
the memory's cells most like it, weighted by a softmax of their similarity (as exemplar colorizers read their
memory), and is sure where the best is alike enough and the colours it read agree.

    cells = matcher.cells(gray_keyframe)                            # the encoder runs once per picture
    colours = matcher.match_gray(gray_keyframe, reference, cells)   # ... for a reference
    memory = matcher.remember(cells, ab)                            # ... and for the picture's own colours
    recalled = matcher.read(matcher.cells(later_keyframe), memory)  # -> ReferenceColours(kept, ab, confidence)
"""
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from model.color import gray8_of_rgb8, gray_to_l, lightness_of_uint8, normalize_l, rgb_to_lab_np
from model.generator import pad_to_stride
from model.hints import Hint
from model.request import RequestError
from model.weights import load_network_and_encoder

MATCH_SIDE = 224  # short side both photos are matched at; the cells are 8 x 8 of these pixels (28 on the short side)
MATCH_ASPECT = 2  # ... and the long side at most this many times it, as the Colorizer's working size
CELL = 8  # pixels of the matching size per cell: the encoder's 1/8 level
LEVEL_WEIGHTS = (0.5, 0.5)  # the encoder's 1/8 and 1/16 features' shares of a similarity
L_PENALTY = 1.0 / 40  # similarity lost per unit of mean lightness between two cells (a cell 20 L darker: -0.5)
MIN_SIMILARITY = 0.5  # a kept match is at least this alike (cosine, after the lightness penalty)
MIN_MARGIN = 0.08  # ... and beats every reference cell of another colour by this much
MUTUAL_SLACK = 0.05  # ... and is within this of the best any gray cell does for its reference cell (mutual)
MIN_SHARE = 0.1  # fewer of the gray photo's cells than this matched: another scene; no points at all
COLOUR_STEP = 12.0  # ab units: reference cells further apart than this are of another colour
EDGE_COLOUR = 10.0  # ab units: a reference cell whose colours spread more than this straddles an edge: never given
MAX_POINTS = 48  # colour points at most (the app takes 64 a request; the user's own points come on top)
BLOCKS = 6  # the points are spread over a grid of blocks, BLOCKS on the short side (fewer, wider spread: better)
MIN_NEIGHBOURS = 4  # ... each at a kept cell with at least this many of its 8 neighbours kept and of its colour
GRAY_CHROMA = 4.0  # ab units: a reference whose 99th percentile of chroma is below this is gray, and refused
MAX_REFERENCE_PIXELS = 25_000_000  # the app's MAX_PIXELS for an upload; a caller may pass its own
READ_TEMPERATURE = 0.02  # a read's softmax: a reference cell 0.05 less alike than the best weighs e^-2.5 as much


@dataclass(frozen=True)
class ReferenceColours:
    hints: tuple[Hint, ...]  # colour points in the gray photo's (upright) pixels, for Colorizer(hints=...)
    share: float  # the part of the gray photo whose regions matched the reference, 0 to 1
    kept: np.ndarray  # (h, w) bool: the cells that matched, on the 1/8 grid of the matching size
    ab: np.ndarray  # (2, h, w) float32: the colour each cell took from the reference (0 where not kept)
    confidence: np.ndarray  # (h, w) float32: how sure each kept cell is (a match: its margin; a read: its best
    # similarity); 0 where not kept


@dataclass(frozen=True)
class Reference:
    """A colour reference, checked and prepared for matching (ReferenceMatcher.prepare): what of it every photo
    matched to it needs, computed once (a folder of photos, a film's keyframes)."""
    rgb: Image.Image | None  # the reference, upright, mode RGB; None for a film's memory of its own colours
    parts: tuple[np.ndarray, ...]  # its cells' raw descriptors: (C, gh, gw) each, the encoder's levels or a texture
    # ((C, 1, M) for references joined into one: only the cells' order matters, row-major as below)
    cell_l: np.ndarray  # (M,) each cell's mean lightness (M = gh * gw, row-major)
    ab: np.ndarray  # (M, 2) each cell's mean colour
    spread: np.ndarray  # (M,) how much each cell's colour varies


@dataclass(frozen=True)
class Cells:
    """A gray picture described for matching (ReferenceMatcher.cells): computed once, it serves both sides, as the
    photo matched to a reference and as a reference itself (a film's keyframe, remembered)."""
    l_small: torch.Tensor  # (h, w) its lightness at the matching size
    parts: tuple[np.ndarray, ...]  # its cells' raw descriptors, (C, gh, gw) each (ReferenceMatcher.parts)


class ReferenceMatcher:
    """Matches a gray photo's regions to a colour reference's. encoder: model.efficientnet.EfficientNetLite0 (or its
    scripted, frozen copy: Colorizer.encoder) taking (B, 1, H, W) normalized L on `device`; None to match on the
    lightness's texture alone. film_encoder: the same in bfloat16 (Colorizer.film_encoder), for pictures that are
    only compared with each other (cells(gray, among_themselves=True): a film's memory of its keyframes), or None."""

    def __init__(self, encoder: torch.nn.Module | None = None, side: int = MATCH_SIDE,
                 device: str | torch.device = "cpu", film_encoder: torch.nn.Module | None = None):
        self.encoder = encoder
        self.film_encoder = film_encoder
        self.side = side
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceMatcher":
        """The matcher for a weights file: its ImageNet encoder (to the levels matched with), in float32, frozen; a
        file without one (formats 1 and 2) matches on texture alone. Raises model.weights.WeightsError for a file
        that cannot be read."""
        return cls(load_network_and_encoder(Path(path))[2])

    def prepare(self, reference: Image.Image, max_pixels: int = MAX_REFERENCE_PIXELS) -> Reference:
        """A colour reference -> it checked (check_reference) and described for matching, once for any number of
        photos. Raises RequestError("reference", ...) for a reference that is not an image, too large, or gray."""
        rgb = check_reference(reference, max_pixels)
        ref_lab = lab_small(rgb, self.side)  # (h', w', 3) the reference's Lab at the matching size
        parts = self.parts(torch.from_numpy(np.ascontiguousarray(ref_lab[..., 0])))
        ab = np.stack([cell_mean(ref_lab[..., c]) for c in (1, 2)]).reshape(2, -1).T  # (M, 2)
        return Reference(rgb, tuple(parts), cell_mean(ref_lab[..., 0]).ravel(), ab,
                         cell_spread(ref_lab[..., 1:]).ravel())

    def match(self, image: Image.Image, reference: "Image.Image | Reference",
              max_pixels: int = MAX_REFERENCE_PIXELS) -> ReferenceColours:
        """A photo (any mode: only its lightness is used) and a colour reference (or one prepared) -> the colours
        that matched. Raises RequestError("reference", ...) for a reference that is not an image, too large, or
        gray."""
        if not isinstance(reference, Reference):
            reference = self.prepare(reference, max_pixels)
        return self.match_gray(gray_of(ImageOps.exif_transpose(image)), reference)

    def cells(self, gray: Image.Image, among_themselves: bool = False) -> Cells:
        """An upright gray photo (mode L, or F in [0, 1]) -> it described for matching (the encoder's one run).
        among_themselves: the cells will only be compared with others made so (a film's memory), never with a
        reference's: the film encoder, where there is one, describes them, in half the time."""
        l_small = lightness_small(gray, self.side)  # (h, w) L of the gray photo at the matching size
        encoder = self.film_encoder if among_themselves and self.film_encoder is not None else self.encoder
        return Cells(l_small, tuple(self.parts(l_small, encoder)))

    def match_gray(self, gray: Image.Image, reference: Reference, cells: Cells | None = None) -> ReferenceColours:
        """An upright gray photo (mode L, or F in [0, 1] as the Colorizer keeps a wider gray) and a prepared
        reference -> the colours that matched, their points in the photo's pixels. cells: the photo described
        already (self.cells(gray)), when it is matched to more than one reference."""
        width, height = gray.size
        cells = cells or self.cells(gray)
        l_small = cells.l_small  # (h, w) L of the gray photo at the matching size

        # 1-2. the similarity of every pair of cells (descriptors, less the lightness penalty; a straddling
        # reference cell is never given)
        similarity = self.similarity(cells, reference)  # (N, M)
        ref_ab = reference.ab  # (M, 2)
        grid = cell_shape(*l_small.shape)
        best = similarity.argmax(axis=1)  # (N,)
        best_similarity = similarity[np.arange(len(best)), best]

        # 3. the ratio test over colours: the best reference cell of ANOTHER colour must be well behind
        other_colour = np.linalg.norm(ref_ab[None, :, :] - ref_ab[best][:, None, :], axis=2) > COLOUR_STEP
        rival = np.where(other_colour, similarity, -np.inf).max(axis=1)
        # no cell of another colour at all (a reference of one colour, and cells that straddle edges): the
        # widest margin two cosines can have, not an infinite one, which would rank no point
        margin = np.where(np.isfinite(rival), best_similarity - rival, 2.0)
        # ... and the match is (nearly) mutual: no gray cell is much more like that reference cell
        mutual = best_similarity >= similarity.max(axis=0)[best] - MUTUAL_SLACK
        kept = (best_similarity >= MIN_SIMILARITY) & (margin >= MIN_MARGIN) & mutual
        if kept.mean() < MIN_SHARE:
            kept[:] = False
        confidence = np.where(kept, margin, 0.0).reshape(grid)
        ab = np.where(kept[:, None], ref_ab[best], 0.0).T.reshape(2, *grid).astype(np.float32)
        kept = kept.reshape(grid)

        # 4. colour points spread over the photo, one per block at its surest cell that agrees with its neighbours
        scale = (width / l_small.shape[1], height / l_small.shape[0])  # full-resolution pixels per matching pixel
        hints = spread_points(kept, confidence, ab, scale, (width, height))
        return ReferenceColours(tuple(hints), float(kept.mean()) if kept.size else 0.0, kept, ab,
                                confidence.astype(np.float32))

    @torch.inference_mode()
    def read(self, cells: Cells, reference: Reference, temperature: float = READ_TEMPERATURE) -> ReferenceColours:
        """A gray picture described (self.cells) and a reference of the same scene (a film's memory) -> each
        cell's colour read from the reference's cells most like it (a softmax of their similarity, lightness
        penalty included, over the cells that straddle no edge), kept where the best is at least MIN_SIMILARITY and
        the colours read spread by at most COLOUR_STEP; no points (the caller spreads its own: spread_points).
        In torch, on its threads: a film's keyframe reads some 1,400 cells against twice as many remembered."""
        similarity = self.similarity_tensor(cells, reference)  # (N, M)
        best = similarity.max(dim=1).values  # (N,); -inf where every reference cell straddles an edge
        # the softmax's far tail, below e^-80 of the best (the cells never given among it), weighs nothing, and its
        # exp is in float32's slow subnormal range: clamped there, this is 30 times as fast
        weights = similarity.sub_(torch.where(torch.isfinite(best), best, 0)[:, None]).div_(temperature)
        weights = weights.clamp_(min=-80).exp_()
        weights /= weights.sum(dim=1, keepdim=True).clamp_(min=1e-30)
        ref_ab = torch.from_numpy(np.ascontiguousarray(reference.ab, dtype=np.float32))  # (M, 2)
        ab = weights @ ref_ab  # (N, 2)
        spread = (weights @ (ref_ab**2).sum(dim=1) - (ab**2).sum(dim=1)).clamp_(min=0).sqrt_()
        best, ab, spread = best.numpy(), ab.numpy(), spread.numpy()
        kept = (best >= MIN_SIMILARITY) & (spread <= COLOUR_STEP)
        grid = cell_shape(*cells.l_small.shape)
        ab = np.where(kept[:, None], ab, 0.0).T.reshape(2, *grid).astype(np.float32)
        confidence = np.where(kept, best, 0.0).reshape(grid).astype(np.float32)
        return ReferenceColours((), float(kept.mean()) if kept.size else 0.0, kept.reshape(grid), ab, confidence)

    def similarity(self, cells: Cells, reference: Reference) -> np.ndarray:
        """(N, M): how alike each of the picture's N cells is to each of the reference's M cells: the cosine of
        their descriptors less L_PENALTY times their lightness difference; -inf for a reference cell that straddles
        an edge (its colour spread over EDGE_COLOUR), which is never given."""
        return self.similarity_tensor(cells, reference).numpy()

    @torch.inference_mode()
    def similarity_tensor(self, cells: Cells, reference: Reference) -> torch.Tensor:
        """self.similarity as a float32 tensor, computed in torch (its threads, not a BLAS pool of its own)."""
        target, reference_cells = (torch.from_numpy(d) for d in self.descriptors(list(cells.parts), reference.parts))
        similarity = target @ reference_cells.T  # (N, M)
        cell_l = torch.from_numpy(cell_mean(cells.l_small.numpy()).ravel())
        ref_l = torch.from_numpy(np.ascontiguousarray(reference.cell_l, dtype=np.float32))
        similarity -= (cell_l[:, None] - ref_l[None, :]).abs_().mul_(L_PENALTY)
        similarity[:, torch.from_numpy(reference.spread > EDGE_COLOUR)] = -torch.inf
        return similarity

    def remember(self, cells: Cells, ab: np.ndarray) -> Reference:
        """A gray picture described (self.cells) and the colour it was given, (2, h, w) Lab ab at any size -> a
        Reference of its own colours: a film's memory, which the shot's later keyframes read (self.read)."""
        height, width = cells.l_small.shape
        ab_small = np.stack([cv2.resize(np.ascontiguousarray(plane, dtype=np.float32), (width, height),
                                        interpolation=cv2.INTER_LINEAR) for plane in ab], axis=-1)  # (h, w, 2)
        means = np.stack([cell_mean(ab_small[..., c]) for c in (0, 1)]).reshape(2, -1).T  # (M, 2)
        return Reference(None, cells.parts, cell_mean(cells.l_small.numpy()).ravel(), means,
                         cell_spread(ab_small).ravel())

    def parts(self, l_small: torch.Tensor, encoder: torch.nn.Module | None = None) -> list[np.ndarray]:
        """(h, w) lightness at the matching size -> its cells' raw descriptors, (C, gh, gw) each: the encoder's two
        levels (encoder: another than self.encoder), or without one the lightness's texture."""
        if self.encoder is None:
            return [texture(l_small.numpy())]
        return self.encoder_features(l_small, encoder or self.encoder)

    def descriptors(self, parts_target: list[np.ndarray], parts_reference: list[np.ndarray] | tuple
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The raw descriptors of two photos' cells (self.parts) -> (N, D) and (M, D) unit descriptors of their
        cells (N, M: cells in row-major order)."""
        weights = LEVEL_WEIGHTS if self.encoder is not None else (1.0,)
        target, reference = [], []
        for weight, part_t, part_r in zip(weights, parts_target, parts_reference):
            # centred on both photos' mean: features that every cell has (ReLU6 outputs are all >= 0) say nothing
            flat_t, flat_r = part_t.reshape(part_t.shape[0], -1).T, part_r.reshape(part_r.shape[0], -1).T
            mean = np.concatenate([flat_t, flat_r]).mean(axis=0)
            target.append(math.sqrt(weight) * unit(flat_t - mean))
            reference.append(math.sqrt(weight) * unit(flat_r - mean))
        return np.concatenate(target, axis=1), np.concatenate(reference, axis=1)

    @torch.inference_mode()
    def encoder_features(self, l_small: torch.Tensor, encoder: torch.nn.Module | None = None) -> list[np.ndarray]:
        """(h, w) L -> [(40, gh, gw) the encoder's 1/8 features, (112, gh, gw) its 1/16 ones enlarged to that grid],
        gh, gw = cell_shape(h, w)."""
        height, width = l_small.shape
        padded = pad_to_stride(normalize_l(l_small)[None, None], 32).float().to(self.device)
        features = (encoder or self.encoder)(padded)
        grid = cell_shape(height, width)
        eighth = features[2][..., :grid[0], :grid[1]]
        sixteenth = F.interpolate(features[3], size=features[2].shape[-2:], mode="bilinear",
                                  align_corners=False)[..., :grid[0], :grid[1]]
        return [eighth[0].float().cpu().numpy(), sixteenth[0].float().cpu().numpy()]


def colorize_with_reference(colorizer, image: Image.Image, reference: Image.Image, matcher: ReferenceMatcher,
                            hints: list | None = None, **options) -> tuple[Image.Image, float]:
    """The Colorizer's result for image with the reference's colours -> (result, share of the photo matched).
    hints: the user's own points, which win: a reference point closer to one of them than a block is dropped.
    options: the Colorizer's (size, vividness, restore)."""
    colours = matcher.match(image, reference)
    points = with_own_points(colours.hints, hints or [], ImageOps.exif_transpose(image).size)
    return colorizer(image, hints=points, **options), colours.share


def joined(*references: Reference) -> Reference:
    """References of the same matcher -> one whose cells are all of theirs (a film's memory of several keyframes,
    read as one)."""
    if len(references) == 1:
        return references[0]
    parts = tuple(np.concatenate([r.parts[level].reshape(r.parts[level].shape[0], 1, -1) for r in references],
                                 axis=2) for level in range(len(references[0].parts)))
    return Reference(None, parts, *(np.concatenate([getattr(r, name) for r in references])
                                    for name in ("cell_l", "ab", "spread")))


def with_own_points(matched, own, size: tuple[int, int]) -> list:
    """The reference's points and the user's own (Hint or {"x", "y", ...}) for a photo of size (width, height) ->
    both, the user's winning: a matched point closer to one of theirs than a block (BLOCKS on the short side) is
    dropped, and theirs come last (later points paint over earlier ones in the hint layer)."""
    if not own:
        return list(matched)
    theirs = [(h["x"], h["y"]) if isinstance(h, dict) else (h.x, h.y) for h in own]
    near = min(size) / BLOCKS
    return [p for p in matched if all(math.hypot(p.x - x, p.y - y) >= near for x, y in theirs)] + list(own)


def check_reference(reference, max_pixels: int = MAX_REFERENCE_PIXELS) -> Image.Image:
    """A reference photo -> it, upright and decoded as RGB. Raises RequestError("reference", ...)."""
    if not isinstance(reference, Image.Image):
        raise RequestError("reference", f"reference must be a colour photo (a PIL image), got "
                                        f"{type(reference).__name__}")
    width, height = reference.size
    if width * height > max_pixels:
        raise RequestError("reference", f"reference is too large: {width}x{height} is {width * height:,} pixels, "
                                        f"at most {max_pixels:,} are taken; send a smaller copy (a reference is "
                                        f"matched at {MATCH_SIDE} pixels on its short side anyway)")
    try:
        rgb = ImageOps.exif_transpose(reference).convert("RGB")
    except (OSError, ValueError) as error:
        raise RequestError("reference", f"reference could not be read as an image ({error}); send a JPEG, PNG "
                                        f"or WebP colour photo") from None
    thumbnail = rgb.copy()
    thumbnail.thumbnail((128, 128))
    lab = rgb_to_lab_np(np.asarray(thumbnail))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    if float(np.percentile(chroma, 99)) < GRAY_CHROMA:
        raise RequestError("reference", "reference is a gray photo: it has no colours to give; send a colour photo "
                                        "of the same place, people or things")
    return rgb


def gray_of(image: Image.Image) -> Image.Image:
    """Any Pillow image -> mode L of its own lightness (a colour photo: the gray of the same luminance)."""
    if image.mode == "L":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return Image.fromarray(np.clip(np.asarray(image, np.float32) / 257, 0, 255).astype(np.uint8))
    if image.mode in ("1", "LA", "La", "F"):
        return image.convert("L")
    return Image.fromarray(gray8_of_rgb8(*(np.asarray(p) for p in image.convert("RGB").split())), "L")


def matching_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) at the matching size: short side `side`, long side at most MATCH_ASPECT times it."""
    scale = min(side / min(width, height), MATCH_ASPECT * side / max(width, height))
    return max(CELL, round(width * scale)), max(CELL, round(height * scale))


def lightness_small(gray: Image.Image, side: int) -> torch.Tensor:
    """A mode L image (or F, gray in [0, 1]) -> (h, w) float32 Lab L at the matching size."""
    small = gray.resize(matching_size(*gray.size, side), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if small.mode == "F":
        return gray_to_l(torch.from_numpy(np.array(small, dtype=np.float32)).clamp_(0, 1))
    return lightness_of_uint8(torch.from_numpy(np.array(small)))


def lab_small(rgb: Image.Image, side: int) -> np.ndarray:
    """An RGB image -> (h, w, 3) float32 Lab at the matching size."""
    small = rgb.resize(matching_size(*rgb.size, side), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return rgb_to_lab_np(np.asarray(small))


def cell_shape(height: int, width: int) -> tuple[int, int]:
    """The 1/8 grid of a picture of this size (partial cells at the right and bottom count)."""
    return -(-height // CELL), -(-width // CELL)


def cell_mean(plane: np.ndarray) -> np.ndarray:
    """(h, w) -> (gh, gw) the mean of each cell (edge pixels repeated into the partial cells)."""
    padded = pad_cells(plane)
    gh, gw = padded.shape[0] // CELL, padded.shape[1] // CELL
    return padded.reshape(gh, CELL, gw, CELL).mean(axis=(1, 3)).astype(np.float32)


def cell_spread(ab: np.ndarray) -> np.ndarray:
    """(h, w, 2) ab -> (gh, gw) each cell's colour spread: the root mean square distance from its mean colour."""
    variance = sum(cell_mean(ab[..., c] ** 2) - cell_mean(ab[..., c]) ** 2 for c in range(2))
    return np.sqrt(np.maximum(variance, 0))


def pad_cells(plane: np.ndarray) -> np.ndarray:
    """(h, w) -> padded at the bottom and right, edge repeated, to whole cells."""
    return np.pad(plane, ((0, -plane.shape[0] % CELL), (0, -plane.shape[1] % CELL)), mode="edge")


def texture(l_small: np.ndarray) -> np.ndarray:
    """(h, w) L -> (6, gh, gw) a texture description of each cell, for networks without an encoder: the spread of
    the lightness and its horizontal and vertical gradients, in the cell and in the cell with its neighbours."""
    l = l_small.astype(np.float32)
    dx, dy = np.abs(cv2.Sobel(l, cv2.CV_32F, 1, 0)), np.abs(cv2.Sobel(l, cv2.CV_32F, 0, 1))
    spread = np.sqrt(np.maximum(cell_mean(l * l) - cell_mean(l) ** 2, 0))
    near = [cell_mean(dx), cell_mean(dy), spread]
    wide = [cv2.blur(plane, (3, 3), borderType=cv2.BORDER_REPLICATE) for plane in near]
    return np.log1p(np.stack(near + wide))


def unit(vectors: np.ndarray) -> np.ndarray:
    """(N, D) -> each row scaled to length 1 (a zero row stays zero)."""
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def spread_points(kept: np.ndarray, confidence: np.ndarray, ab: np.ndarray, scale: tuple[float, float],
                  size: tuple[int, int], most: int = MAX_POINTS, blocks: int = BLOCKS) -> list[Hint]:
    """Kept cells of a (gh, gw) grid -> at most `most` colour points for a photo of `size` (width, height), `scale`
    (x, y) of its pixels per pixel of the matching size: in each block of
    the grid (`blocks` on the short side), the surest kept cell with at least MIN_NEIGHBOURS kept neighbours of its
    colour, coloured with the mean of those neighbours and itself. The surest `most` of them if more."""
    gh, gw = kept.shape
    agree = np.zeros_like(kept, dtype=np.int32)  # kept neighbours within COLOUR_STEP of the cell's colour
    total = np.zeros_like(ab)  # their colours, summed, with the cell's own
    padded_kept = np.pad(kept, 1)
    padded_ab = np.pad(ab, ((0, 0), (1, 1), (1, 1)))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            other_kept = padded_kept[1 + dy:1 + dy + gh, 1 + dx:1 + dx + gw]
            other_ab = padded_ab[:, 1 + dy:1 + dy + gh, 1 + dx:1 + dx + gw]
            alike = other_kept & kept & (np.linalg.norm(other_ab - ab, axis=0) <= COLOUR_STEP)
            total += np.where(alike, other_ab, 0)
            if dy or dx:
                agree += alike
    eligible = kept & (agree >= MIN_NEIGHBOURS)
    score = np.where(eligible, confidence, -np.inf)
    block = max(1, round(min(gh, gw) / blocks))
    candidates = []
    for top in range(0, gh, block):
        for left in range(0, gw, block):
            window = score[top:top + block, left:left + block]
            row, column = np.unravel_index(np.argmax(window), window.shape)
            if np.isfinite(window[row, column]):
                candidates.append((float(window[row, column]), top + row, left + column))
    candidates.sort(reverse=True)
    hints = []
    for _, row, column in candidates[:most]:
        a, b = total[:, row, column] / (agree[row, column] + 1)
        x = min(size[0] - 1, int((column + 0.5) * CELL * scale[0]))
        y = min(size[1] - 1, int((row + 0.5) * CELL * scale[1]))
        hints.append(Hint(x, y, float(a), float(b)))
    return hints
