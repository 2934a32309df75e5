import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.color import gray8_of_rgb8
from tests.conftest import synthetic_photo
from training import data
from training.data import PhotoCrops, list_images, scan_photos, split_paths, spread, to_model_inputs


def test_the_split_is_disjoint_stable_and_near_its_fraction(tmp_path):
    paths = [tmp_path / f"img_{i}.jpg" for i in range(2000)]
    train, val = split_paths(paths, 0.1)
    assert set(train).isdisjoint(val) and len(train) + len(val) == 2000
    assert 150 < len(val) < 250
    # the same file lands on the same side whatever else is in the folder, and wherever the folder is
    _, val_subset = split_paths(paths[::-1][:500], 0.1)
    assert set(val_subset) == set(val) & set(paths[::-1][:500])
    _, moved = split_paths([tmp_path / "elsewhere" / p.name for p in paths], 0.1)
    assert [p.name for p in moved] == [p.name for p in val]


def test_spread_takes_evenly_spaced_indices_from_first_to_last_and_never_repeats():
    assert spread(9, 3) == [0, 4, 8]
    assert spread(10, 4) == [0, 3, 6, 9]
    assert spread(6, 4) == [0, 2, 3, 5]  # 0, 1.67, 3.33, 5 rounded to the nearest
    assert spread(7, 4) == [0, 2, 4, 6]
    assert spread(5, 1) == [0]
    assert spread(3, 10) == [0, 1, 2]  # more asked for than there are: each once
    assert spread(0, 5) == [] and spread(5, 0) == []


def test_scan_skips_gray_and_broken_files_with_a_warning(tmp_path):
    synthetic_photo(0).save(tmp_path / "color.jpg")
    synthetic_photo(1).convert("L").convert("RGB").save(tmp_path / "gray.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["broken.jpg", "color.jpg", "gray.jpg"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = scan_photos(paths)
    assert [p.name for p in kept] == ["color.jpg"]
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.jpg: unreadable" in messages and "gray.jpg: grayscale" in messages


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        list_images(tmp_path / "missing")


def test_crops_have_the_training_size_and_values_in_range(photo_folder):
    paths = list_images(photo_folder)
    train = PhotoCrops(paths, image_size=32, scale_size=48, train=True)
    val = PhotoCrops(paths, image_size=32, scale_size=48, train=False)
    crop = train[0]
    assert crop.shape == (3, 32, 32) and crop.dtype == torch.uint8 and crop.max() > crop.min()
    # validation crops are the same every time, from any instance; training crops move and mirror
    assert torch.equal(val[1], PhotoCrops(paths, image_size=32, scale_size=48, train=False)[1])
    draws = [train[1] for _ in range(8)]
    assert any(not torch.equal(draws[0], other) for other in draws[1:])


def test_training_crops_are_mirrored_left_to_right_half_the_time_and_validation_crops_never(tmp_path):
    import random
    synthetic_photo(7, (48, 48)).save(tmp_path / "square.png")  # lossless, and the crop is the whole photo
    photo = torch.from_numpy(np.asarray(Image.open(tmp_path / "square.png").convert("RGB")).copy()).permute(2, 0, 1)
    mirror = photo.flip(-1)  # left to right: columns reversed, rows kept
    random.seed(0)
    train = PhotoCrops([tmp_path / "square.png"], image_size=48, scale_size=48, train=True)
    draws = [train[0] for _ in range(200)]
    assert all(torch.equal(d, photo) or torch.equal(d, mirror) for d in draws)  # only the photo or its mirror
    mirrored = sum(torch.equal(d, mirror) for d in draws)
    assert 60 < mirrored < 140, mirrored  # about half
    val = PhotoCrops([tmp_path / "square.png"], image_size=48, scale_size=48, train=False)
    assert all(torch.equal(val[0], photo) for _ in range(20))


def test_zoom_enlarges_training_photos_by_a_random_factor_and_leaves_validation_alone(photo_folder, monkeypatch):
    asked = []
    real = data.resize_short_side
    monkeypatch.setattr(data, "resize_short_side", lambda image, side: asked.append(side) or real(image, side))
    paths = list_images(photo_folder)
    zoomed = PhotoCrops(paths, image_size=32, scale_size=48, train=True, zoom=1.5)
    for _ in range(40):
        assert zoomed[0].shape == (3, 32, 32)
    assert min(asked) >= 48 and max(asked) <= 72 and len(set(asked)) > 5
    asked.clear()
    PhotoCrops(paths, image_size=32, scale_size=48, train=False, zoom=1.5)[0]
    PhotoCrops(paths, image_size=32, scale_size=48, train=True)[0]
    assert asked == [48, 48]


def test_model_inputs_are_normalized(photo_folder):
    rgb = torch.stack([PhotoCrops(list_images(photo_folder), 32, 48, False)[i] for i in range(4)])
    l, ab = to_model_inputs(rgb)
    assert l.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)
    assert -1 <= l.min() and l.max() <= 1 and ab.abs().max() <= 1
    assert ab.abs().mean() > 0.01  # the synthetic photos have color


def test_old_prints_give_the_network_a_damaged_gray_and_keep_the_clean_colours(photo_folder):
    paths = list_images(photo_folder)
    random.seed(0)
    old = PhotoCrops(paths, image_size=32, scale_size=48, train=False)  # validation: never made old
    assert old[0].shape == (3, 32, 32)
    always = PhotoCrops(paths, image_size=32, scale_size=48, train=True, old_prints=1.0)
    crops = torch.stack([always[i % len(paths)] for i in range(12)])
    assert crops.shape == (12, 4, 32, 32) and crops.dtype == torch.uint8
    own = torch.from_numpy(np.stack([gray8_of_rgb8(*c[:3].numpy()) for c in crops]))
    changed = (crops[:, 3].int() - own.int()).abs().float().mean(dim=(1, 2))
    assert (changed > 1).float().mean() > 0.5  # most crops made old (a draw may apply little)
    l, ab = to_model_inputs(crops)
    l_clean, ab_clean = to_model_inputs(crops[:, :3])
    assert torch.equal(ab, ab_clean)  # the target: the clean colours
    assert not torch.allclose(l, l_clean, atol=0.02)  # the input: the damaged gray

    never = PhotoCrops(paths, image_size=32, scale_size=48, train=True, old_prints=1e-9)
    crop = never[0]
    assert torch.equal(crop[3], torch.from_numpy(gray8_of_rgb8(*crop[:3].numpy())))  # the crop's own gray
    l, _ = to_model_inputs(crop[None])
    assert (l - to_model_inputs(crop[None, :3])[0]).abs().max() < 0.01  # the same L, to a level of 255


def test_held_out_by_splits_as_the_weights_file_says_and_refuses_a_file_that_does_not():
    paths = [Path(f"photo_{i:04d}.jpg") for i in range(200)]
    info = {"training": {"config": {"val_fraction": 0.25}}}
    assert data.held_out_by(info, paths) == split_paths(paths, 0.25)
    with pytest.raises(ValueError, match="does not say which share"):
        data.held_out_by({"training": {}}, paths)
