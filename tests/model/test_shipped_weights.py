"""The weights file the repository ships: present, small, and doing what the model card says."""
import io

import numpy as np
import pytest
from PIL import Image

from model.color import rgb_to_lab_np
from model.colorizer import Colorizer
from model.weights import DEFAULT_WEIGHTS
from tests.conftest import synthetic_photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    assert DEFAULT_WEIGHTS.exists(), "weights/colorizer.pt is missing: the app's run command needs it"
    return Colorizer.load(DEFAULT_WEIGHTS)


def test_the_shipped_model_is_small_and_documented(shipped):
    assert shipped.info["parameters"] < 10_000_000
    assert shipped.info["training"]["step"] > 1000
    card = (DEFAULT_WEIGHTS.parent / "README.md").read_text()
    assert shipped.sha256[:16] in card, "the model card must name the file it describes"
    assert f"| working size | {shipped.default_size}:" in card, "the model card must state the working size"
    assert f"| chroma gain | {shipped.chroma_gain:g}:" in card, "the model card must state the chroma gain"


@pytest.mark.parametrize("size", [(300, 200), (517, 389)])
def test_the_shipped_model_colors_and_keeps_lightness(shipped, size):
    gray = synthetic_photo(31, size).convert("L")
    png = io.BytesIO()
    shipped(gray).save(png, "PNG")
    with Image.open(png) as result:
        lab = rgb_to_lab_np(np.asarray(result))
    expected = rgb_to_lab_np(np.asarray(gray.convert("RGB")))[..., 0]
    l_psnr = 10 * np.log10(100**2 / np.mean((lab[..., 0] - expected) ** 2))
    assert l_psnr >= 40
    # A synthetic picture, not a photo: the model is unsure of it and colours it lightly (mean chroma 2.7 and 3+
    # with earlier models); a gray result measures under 0.01.
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 1.5, "the result is (nearly) gray"


def test_bfloat16_matches_float32_on_the_shipped_model():
    photo = synthetic_photo(32, (320, 240)).convert("L")
    exact = np.asarray(Colorizer.load(DEFAULT_WEIGHTS, precision="float32")(photo), dtype=int)
    fast = np.asarray(Colorizer.load(DEFAULT_WEIGHTS, precision="bfloat16")(photo), dtype=int)
    difference = np.abs(exact - fast)
    assert difference.max() <= 3 and difference.mean() < 0.3
