"""Colours from a reference photo (model.reference): matched regions get the reference's colours, an unrelated
reference changes nothing, and a reference that cannot give colours is refused naming the field."""
import numpy as np
import pytest
import torch
from PIL import Image

from model.color import lab_to_rgb_np, rgb_to_lab_np
from model.colorizer import Colorizer
from model.efficientnet import EfficientNetLite0
from model.reference import BLOCKS, MAX_POINTS, ReferenceMatcher, colorize_with_reference
from model.request import RequestError

WIDTH, HEIGHT = 192, 128
RED, BLUE = (45.0, 30.0), (10.0, -45.0)  # Lab (a, b) of the reference's two regions
PALE_RED = (33.0, 20.0)  # a red 16 ab paler: another colour for the matching (COLOUR_STEP), the same for a read


def stripes(height: int, width: int) -> np.ndarray:
    """Horizontal stripes, 4 pixels a period, about L 50 +- 15."""
    return np.where((np.arange(height)[:, None] // 2) % 2 == 0, 35.0, 65.0) * np.ones((height, width))


def checks(height: int, width: int) -> np.ndarray:
    """A checkerboard of 2-pixel squares, about the same lightness as stripes()."""
    rows, columns = np.arange(height)[:, None] // 2, np.arange(width)[None, :] // 2
    return np.where((rows + columns) % 2 == 0, 35.0, 65.0)


def two_textures(left, right, colours=None, seed: int = 0) -> Image.Image:
    """A photo of two halves, each of one texture (and, given colours, of one Lab (a, b) colour); noise added."""
    rng = np.random.default_rng(seed)
    half = WIDTH // 2
    l = np.concatenate([left(HEIGHT, half), right(HEIGHT, WIDTH - half)], axis=1) + rng.normal(0, 1.5, (HEIGHT, WIDTH))
    lab = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    lab[..., 0] = l
    if colours is not None:
        lab[:, :half, 1:], lab[:, half:, 1:] = colours[0], colours[1]
    rgb = (lab_to_rgb_np(lab) * 255).round().astype(np.uint8)
    return Image.fromarray(rgb).convert("L") if colours is None else Image.fromarray(rgb)


def random_encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return EfficientNetLite0().eval()


@pytest.fixture(params=["texture", "encoder"])
def matcher(request) -> ReferenceMatcher:
    """A matcher on lightness texture alone (weights of format 2), and one on an (untrained) EfficientNet's
    features: random convolutions tell stripes from checks too, enough to test the matching around them."""
    return ReferenceMatcher(None if request.param == "texture" else random_encoder())


@pytest.fixture(scope="module")
def echo_colorizer(echo_weights) -> Colorizer:
    return Colorizer.load(echo_weights, precision="float32")


def test_each_region_takes_the_colour_of_the_reference_region_of_its_texture(matcher):
    gray = two_textures(stripes, checks)
    # the reference has the textures the other way round: position alone would give each region the wrong colour
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    colours = matcher.match(gray, reference)
    assert 0.5 < colours.share <= 1 and 2 <= len(colours.hints) <= MAX_POINTS
    left = [h for h in colours.hints if h.x < WIDTH // 2]
    right = [h for h in colours.hints if h.x >= WIDTH // 2]
    assert left and right, f"points on both regions, got {colours.hints}"
    for hint in left:  # stripes: red in the reference
        assert np.hypot(hint.a - RED[0], hint.b - RED[1]) < 8, hint
    for hint in right:  # checks: blue
        assert np.hypot(hint.a - BLUE[0], hint.b - BLUE[1]) < 8, hint


def test_the_colorized_photo_shows_each_reference_colour_on_its_own_region(echo_colorizer):
    gray = two_textures(stripes, checks)
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    result, share = colorize_with_reference(echo_colorizer, gray, reference, ReferenceMatcher(None), restore="off")
    lab = rgb_to_lab_np(np.asarray(result))
    left, right = lab[:, 8:WIDTH // 2 - 8, 1:].mean(axis=(0, 1)), lab[:, WIDTH // 2 + 8:-8, 1:].mean(axis=(0, 1))
    assert share > 0.5
    assert left[0] > 20 and left[1] > 10, f"the striped half should be red, got ab {left}"
    # (the checks' edges everywhere keep each point's colour nearer to it than on the stripes: model.points)
    assert right[1] < -8 and right[0] < left[0] - 20, f"the checked half should be blue, got ab {right}"


def test_a_reference_of_another_scene_leaves_the_automatic_colours(echo_colorizer):
    gray = two_textures(stripes, checks)
    # smooth colour gradients, no texture at all, much lighter: nothing in it is like either half
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    lab = np.stack([85 + 10 * y / HEIGHT, 40 * x / WIDTH - 20, 30 - 50 * y / HEIGHT], axis=-1).astype(np.float32)
    reference = Image.fromarray((lab_to_rgb_np(lab) * 255).round().astype(np.uint8))
    for matcher in (ReferenceMatcher(None), ReferenceMatcher(random_encoder())):
        colours = matcher.match(gray, reference)
        assert colours.hints == () and colours.share < 0.1
    result, share = colorize_with_reference(echo_colorizer, gray, reference, ReferenceMatcher(None), restore="off")
    automatic = echo_colorizer(gray, restore="off")
    assert share < 0.1
    assert np.abs(np.asarray(result, np.int16) - np.asarray(automatic, np.int16)).max() <= 1


def test_the_users_own_points_win_over_the_reference_near_them(echo_colorizer, monkeypatch):
    gray = two_textures(stripes, checks)
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    seen = {}

    def colorizer(image, hints=None, **options):
        seen["hints"] = hints
        return echo_colorizer(image, hints=hints, **options)

    mine = {"x": 40, "y": 60, "color": "#20c020"}
    colorize_with_reference(colorizer, gray, reference, ReferenceMatcher(None), hints=[mine], restore="off")
    assert seen["hints"][-1] == mine
    others = seen["hints"][:-1]
    assert others and all(np.hypot(h.x - 40, h.y - 60) >= HEIGHT / BLOCKS for h in others)


@pytest.mark.parametrize("reference, words", [
    (Image.new("RGB", (64, 48), (120, 120, 120)), "gray"),
    (Image.new("L", (64, 48), 90), "gray"),
    (np.zeros((48, 64, 3), np.uint8), "PIL image"),
    ("photo.jpg", "PIL image"),
])
def test_a_reference_that_cannot_give_colours_is_refused_naming_the_field(reference, words):
    with pytest.raises(RequestError, match=words) as raised:
        ReferenceMatcher(None).match(two_textures(stripes, checks), reference)
    assert raised.value.field == "reference" and "reference" in str(raised.value)


def test_a_reference_over_the_pixel_limit_is_refused_before_it_is_decoded():
    reference = two_textures(checks, stripes, colours=(BLUE, RED))
    with pytest.raises(RequestError, match="too large") as raised:
        ReferenceMatcher(None).match(two_textures(stripes, checks), reference, max_pixels=WIDTH * HEIGHT - 1)
    assert raised.value.field == "reference"


def test_a_read_gives_each_region_the_colours_its_texture_had_in_the_memory(matcher):
    """A film's memory (ReferenceMatcher.read): the same scene, its striped half red above and a paler red below
    (an object's colour fading from one keyframe to the next; for a match, two colours of one texture are a doubt
    that keeps a cell out). The read gives each cell the colours it saw, weighted by likeness."""
    gray = two_textures(stripes, checks)
    memory = two_textures(stripes, checks, colours=(RED, BLUE), seed=1)
    lab = rgb_to_lab_np(np.asarray(memory))
    lab[HEIGHT // 2:, :WIDTH // 2, 1:] = PALE_RED
    memory = Image.fromarray((lab_to_rgb_np(lab) * 255).round().astype(np.uint8))
    read = matcher.read(matcher.cells(gray), matcher.prepare(memory))
    half = read.kept.shape[1] // 2  # the cells of the striped half: [:, :half - 1]; of the checked: [:, half + 1:]
    assert read.hints == () and 0.8 < read.share <= 1
    stripes_ab = read.ab[:, :, :half - 1][:, read.kept[:, :half - 1]].T  # (K, 2) the striped cells read
    assert len(stripes_ab) > 0.8 * read.kept[:, :half - 1].size
    between = np.hypot(*(stripes_ab - RED).T) + np.hypot(*(stripes_ab - PALE_RED).T)
    assert np.all(between < np.hypot(RED[0] - PALE_RED[0], RED[1] - PALE_RED[1]) + 3), between.max()  # on the way
    checks_ab = read.ab[:, :, half + 1:][:, read.kept[:, half + 1:]].T
    assert len(checks_ab) > 0 and np.all(np.hypot(*(checks_ab - BLUE).T) < 6)


def test_reference_cells_whose_colour_changes_inside_them_are_never_given(matcher):
    """A reference region striped red and blue finer than a cell: each of its cells straddles an edge, and its
    mean colour (a purple neither stripe has) must reach no photo, neither by a match nor by a film's read; the
    checked region's blue still does."""
    gray = two_textures(stripes, checks)
    reference = two_textures(stripes, checks, colours=(RED, BLUE), seed=1)
    lab = rgb_to_lab_np(np.asarray(reference))
    rows = (np.arange(HEIGHT) // 4) % 2 == 1
    lab[rows, :WIDTH // 2, 1:] = BLUE  # every other 4 rows of the striped half blue: red and blue inside each cell
    reference = Image.fromarray((lab_to_rgb_np(lab) * 255).round().astype(np.uint8))
    colours = matcher.match(gray, reference)
    read = matcher.read(matcher.cells(gray), matcher.prepare(reference))
    assert any(np.hypot(h.a - BLUE[0], h.b - BLUE[1]) < 8 for h in colours.hints), colours.hints
    for hint in colours.hints:
        assert np.hypot(hint.a - BLUE[0], hint.b - BLUE[1]) < 8, hint
    given = read.ab[:, read.kept].T  # (K, 2) every colour the read gave
    assert len(given) > 0 and np.all(np.hypot(*(given - BLUE).T) < 8), given


def test_a_weights_file_without_an_encoder_gives_a_texture_matcher(tiny_weights):
    assert ReferenceMatcher.load(tiny_weights).encoder is None


# The Colorizer with a reference: its own encoder (weights of format 3) matches, in the photo path.

@pytest.fixture(scope="module")
def encoder_colorizer(echo_encoder_weights) -> Colorizer:
    return Colorizer.load(echo_encoder_weights, precision="float32")


def test_the_matchers_encoder_stops_at_the_levels_it_matches_with(encoder_colorizer, echo_encoder_weights):
    """The Colorizer's encoder (and ReferenceMatcher.load's) computes the network's ImageNet encoder only to its
    1/16 level: the same features as the whole encoder there, without the 1/32 blocks."""
    from model.efficientnet import EfficientNetLite0
    from model.weights import quiet_jit
    with quiet_jit():
        whole = torch.jit.load(str(echo_encoder_weights), map_location="cpu").imagenet.float().eval()
    assert isinstance(whole, torch.jit.ScriptModule) and not isinstance(whole, EfficientNetLite0)
    l_norm = torch.rand(1, 1, 64, 96) * 2 - 1
    with torch.inference_mode():
        theirs, ours = whole(l_norm), encoder_colorizer.encoder(l_norm)
        loaded = ReferenceMatcher.load(echo_encoder_weights).encoder(l_norm)
    assert len(theirs) == 5 and len(ours) == len(loaded) == 4
    for level in range(4):
        assert torch.allclose(ours[level], theirs[level], atol=1e-5) and torch.equal(ours[level], loaded[level])


def ab_halves(result: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    lab = rgb_to_lab_np(np.asarray(result.convert("RGB")))
    return lab[:, 8:WIDTH // 2 - 8, 1:].mean(axis=(0, 1)), lab[:, WIDTH // 2 + 8:-8, 1:].mean(axis=(0, 1))


def test_the_colorizer_gives_each_region_the_colour_of_the_reference_region_it_matches(encoder_colorizer):
    assert encoder_colorizer.encoder is not None
    gray = two_textures(stripes, checks)
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    result = encoder_colorizer(gray, reference=reference, restore="off")
    left, right = ab_halves(result)
    assert result.size == gray.size and 0.5 < result.info["reference_share"] <= 1
    assert left[0] > 20 and left[1] > 10, f"the striped half should be red, got ab {left}"
    assert right[1] < -8 and right[0] < left[0] - 20, f"the checked half should be blue, got ab {right}"
    # without the reference the echo net gives no colour, and says nothing of a share
    automatic = encoder_colorizer(gray, restore="off")
    assert "reference_share" not in automatic.info and np.abs(ab_halves(automatic)).max() < 2


def test_a_reference_prepared_once_gives_what_the_photo_itself_gives(encoder_colorizer):
    gray = two_textures(stripes, checks)
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    prepared = encoder_colorizer.prepare_reference(reference)
    request = encoder_colorizer.check(gray, restore="off", reference=prepared)
    assert request.reference is prepared
    once = encoder_colorizer.colorize(gray, request)
    assert np.array_equal(np.asarray(once), np.asarray(encoder_colorizer(gray, reference=reference, restore="off")))


def test_the_users_point_wins_over_the_reference_in_the_colorizer(encoder_colorizer):
    gray = two_textures(stripes, checks)
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    green = {"x": 40, "y": 60, "color": "#20c020"}
    request = encoder_colorizer.check(gray, reference=reference, hints=[green], restore="off")
    points = encoder_colorizer.prepare(gray, request).points  # what the network is given
    assert points[-1] == request.hints[0], "the user's point comes last: it paints over the others"
    matched = points[:-1]
    assert matched and all(np.hypot(p.x - 40, p.y - 60) >= HEIGHT / BLOCKS for p in matched)
    result = encoder_colorizer.colorize(gray, request)
    around = rgb_to_lab_np(np.asarray(result))[56:65, 36:45, 1:].mean(axis=(0, 1))
    assert around[0] < -15, f"the user's green point should hold its place on the red half, got ab {around}"
    left, _ = ab_halves(result)
    assert left[1] > 5, f"the rest of the striped half keeps the reference's red, got ab {left}"


def test_a_model_without_an_encoder_refuses_a_reference_naming_it(echo_colorizer):
    reference = two_textures(checks, stripes, colours=(BLUE, RED), seed=1)
    assert echo_colorizer.encoder is None
    with pytest.raises(RequestError, match="reference: this model has no ImageNet encoder") as caught:
        echo_colorizer(two_textures(stripes, checks), reference=reference)
    assert caught.value.field == "reference"


@pytest.mark.parametrize("reference, words", [
    (Image.new("RGB", (64, 48), (120, 120, 120)), "gray photo"),
    ("photo.jpg", "PIL image"),
])
def test_the_colorizer_refuses_a_reference_that_gives_no_colours(encoder_colorizer, reference, words):
    with pytest.raises(RequestError, match=words) as caught:
        encoder_colorizer.check(two_textures(stripes, checks), reference=reference)
    assert caught.value.field == "reference"
