"""model.restore: finds synthetic damage whose mask is known, fills it, and leaves clean photos bitwise alone."""
import numpy as np
import pytest
from PIL import Image

from model import restore as repair
from tests.conftest import held_out_old_print, synthetic_photo
from training.degrade import DAMAGE_KINDS, made_old
from training.train_damage import near


def gray(seed: int, size=(256, 192)) -> np.ndarray:
    return np.asarray(synthetic_photo(seed, size).convert("L"))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auto_leaves_a_clean_photo_bitwise_unchanged(seed):
    clean = gray(seed)
    result, report = repair.restore(clean, "auto")
    assert np.array_equal(result, clean) and result.dtype == np.uint8
    assert report["changed"] is False and report["old_print"] is False


def test_off_returns_the_input_itself():
    clean = gray(0)
    damaged, _ = made_old(clean, "off")
    result, report = repair.restore(damaged, "off")
    assert result is damaged and report == {"mode": "off", "changed": False}


def test_scratches_dust_and_cracks_are_found():
    counts = np.zeros(4)
    for seed in range(6):
        damaged, truth = made_old(gray(seed), f"photo {seed}", DAMAGE_KINDS)
        found, measured = repair.detect(damaged)
        assert measured["defects"] > 0
        counts += [near(found, truth).sum(), found.sum(), near(truth, found).sum(), truth.sum()]
        assert near(truth, found).sum() / truth.sum() >= 0.35  # every photo: a good part of its damage
    precision, recall = counts[0] / counts[1], counts[2] / counts[3]
    assert precision >= 0.9 and recall >= 0.7, (precision, recall)  # measured: 0.97 and 0.76


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_what_is_found_is_filled_from_its_surroundings(seed):
    clean = gray(seed)
    damaged, truth = made_old(clean, f"photo {seed}", DAMAGE_KINDS)
    found, _ = repair.detect(damaged)
    filled = repair.fill(damaged, found)
    error = lambda image: np.abs(image.astype(int) - clean.astype(int))[truth].mean()  # noqa: E731
    assert error(filled) < 0.6 * error(damaged)
    assert np.array_equal(filled[~found], damaged[~found])  # nothing else is touched


def test_on_repairs_the_damage_and_leaves_the_rest_of_a_sharp_full_range_photo():
    import cv2
    smooth = cv2.GaussianBlur(gray(5).astype(np.float32), (0, 0), 1.5)  # no grain
    low, high = np.percentile(smooth, (0.5, 99.5))
    clean = np.clip(np.round(255 * (smooth - low) / (high - low)), 0, 255).astype(np.uint8)  # black to white
    damaged, truth = made_old(clean, "photo 5", DAMAGE_KINDS)
    repaired, report = repair.restore(damaged, "on")
    assert report["changed"] and report["defects"] > 0 and report["filled"] > 0
    assert report["denoised"] == 0 and report["stretched"] is None
    error = lambda image: np.abs(image.astype(int) - clean.astype(int)).mean()  # noqa: E731
    assert error(repaired) < 0.7 * error(damaged)


def test_auto_repairs_a_photo_made_old():
    clean, damaged = held_out_old_print()  # a real photo: the gate does not take the synthetic ones for prints
    repaired, report = repair.restore(damaged, "auto")
    assert report["old_print"] is True and report["changed"] and report["defects"] > 0
    assert report["stretched"] is not None  # its black was lifted
    assert np.abs(repaired.astype(int) - clean).mean() < np.abs(damaged.astype(int) - clean).mean()


def test_sixteen_bit_gray_is_repaired_as_float():
    clean = gray(2)
    damaged, truth = made_old(clean, "float", DAMAGE_KINDS)
    scaled = damaged.astype(np.float32) / 255
    repaired, report = repair.restore(scaled, "on")
    assert repaired.dtype == np.float32 and repaired.shape == scaled.shape
    assert 0 <= repaired.min() and repaired.max() <= 1
    eight_bit, _ = repair.restore(damaged, "on")
    assert np.abs(repaired * 255 - eight_bit).mean() < 1  # the same repair, without rounding to 8 bits


def test_a_large_photo_is_searched_on_a_smaller_copy(monkeypatch):
    clean = gray(3, (480, 360))
    damaged, truth = made_old(clean, "large", DAMAGE_KINDS)
    monkeypatch.setattr(repair, "DETECT_PIXELS", 480 * 360 // 4)  # as a 12 MP scan is searched at 2 MP
    found, measured = repair.detect(damaged)
    assert found.shape == damaged.shape
    assert near(truth, found).sum() / truth.sum() >= 0.5  # the mask, scaled back up, still covers the damage


@pytest.mark.parametrize("mode", ["auto", " On ", "OFF"])
def test_modes_are_read_in_any_case(mode):
    assert repair.check_mode(mode) == mode.strip().lower()


@pytest.mark.parametrize("mode", ["", "yes", "maybe", None, 1, True])
def test_a_bad_mode_is_refused(mode):
    with pytest.raises(ValueError, match="restore must be auto, on or off"):
        repair.restore(gray(0), mode)


def test_tiny_and_wrong_shaped_images():
    tiny = np.full((8, 8), 128, np.uint8)
    assert repair.restore(tiny, "on")[0] is tiny  # too small to judge
    with pytest.raises(ValueError, match=r"\(H, W\) gray"):
        repair.restore(np.zeros((16, 16, 3), np.uint8))


def test_fading_is_stretched_only_when_the_histogram_is_compressed():
    clean = np.tile(np.linspace(0, 255, 256, dtype=np.float32), (128, 1))  # black to white
    faded = (60 + clean * 0.55).astype(np.uint8)  # black at 60, white at 200
    stretched, report = repair.restore(faded, "on")
    assert report["stretched"] is not None
    assert np.percentile(stretched, 0.5) < 30 and np.percentile(stretched, 99.5) > 225  # most of the way
    squeezed = (100 + clean.astype(np.float32) * 0.25).astype(np.uint8)  # 60 levels: never more than 1.6x
    (black, white), (low, high) = repair.fade_levels(squeezed)
    assert high - low == pytest.approx(repair.MAX_GAIN * (white - black))
    full = np.asarray(Image.fromarray(np.linspace(0, 255, 256 * 64).reshape(64, 256).astype(np.uint8)))
    assert repair.fade_levels(full) is None


def test_grain_is_calmed_only_where_it_is_measured():
    flat = np.full((128, 128), 120.0, np.float32)
    grainy = np.clip(flat + np.random.default_rng(0).normal(0, 8, flat.shape), 0, 255).astype(np.uint8)
    repaired, report = repair.restore(grainy, "on")
    assert report["denoised"] > 0.9 and repaired.std() < 0.6 * grainy.std()
    quiet = np.clip(flat + np.random.default_rng(0).normal(0, 0.3, flat.shape), 0, 255).astype(np.uint8)
    assert repair.restore(quiet, "on")[1]["denoised"] == 0
