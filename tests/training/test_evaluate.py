import json

import numpy as np
import pytest
import torch
from PIL import Image

from training.evaluate import colorfulness, evaluate, frechet_distance, inception_score, main


def test_colorfulness_is_zero_for_gray_and_known_for_a_flat_color():
    assert colorfulness(np.full((8, 8, 3), 128, np.uint8)) == 0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200  # rg = 200, yb = 100, no spread: 0.3 * hypot(200, 100)
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(200, 100))


def test_the_absolute_colorfulness_variant_on_known_values():
    half = np.zeros((2, 2, 3), np.uint8)
    half[0] = (100, 0, 0)  # rg = 100 on one row and 0 on the other
    half[1] = (0, 100, 0)  # plain: rg = +100 / -100, mean 0, std 100; absolute: 100 everywhere, std 0
    # yb = 0.5 (R + G) - B = 50 everywhere, in both variants
    assert colorfulness(half) == pytest.approx(np.hypot(100, 0) + 0.3 * np.hypot(0, 50))
    assert colorfulness(half, absolute=True) == pytest.approx(0.3 * np.hypot(100, 50))


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-6)
    # diagonal covariances: sum (sqrt(s1) - sqrt(s2))^2 plus the squared mean distance
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    m1, m2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    expected = 9.0 + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    assert frechet_distance(m1, np.diag(s1), m2, np.diag(s2)) == pytest.approx(expected)


def test_frechet_distance_matches_the_matrix_square_root_form():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_inception_score_bounds():
    assert inception_score(np.full((20, 10), 0.1), splits=2)[0] == pytest.approx(1.0)  # no confidence
    assert inception_score(np.eye(10), splits=1)[0] == pytest.approx(10.0)  # confident and diverse


def test_evaluate_reports_ours_against_gray(colorizer, photo_folder, tmp_path):
    from skimage.metrics import peak_signal_noise_ratio
    from training.data import open_rgb
    paths = sorted(photo_folder.iterdir())[:4]
    report = evaluate(colorizer, paths, sheet=tmp_path / "sheet.png")
    assert report["images"] == 4 and list(report["hints"]) == ["0"] and report["ours"] == report["hints"]["0"]
    assert report["gray"]["colorfulness"] < 0.5 and report["original"]["colorfulness"] > 10
    assert report["gray"]["colorfulness_gap"] == pytest.approx(report["original"]["colorfulness"] - report["gray"]["colorfulness"])
    # the reported PSNRs are the mean of each photo's, computed here independently
    originals = [np.asarray(open_rgb(p)) for p in paths]
    ours = [peak_signal_noise_ratio(o, np.asarray(colorizer(open_rgb(p))), data_range=255) for o, p in zip(originals, paths)]
    assert report["ours"]["psnr"] == pytest.approx(np.mean(ours))
    assert 0 < report["ours"]["ssim"] <= 1 and report["ours"]["colorfulness"] > report["gray"]["colorfulness"]
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.height > 4 * 100


def test_the_hint_sweep_scores_each_count_and_the_fidelity_at_the_hints(colorizer, photo_folder, tmp_path):
    paths = sorted(photo_folder.iterdir())[:3]
    report = evaluate(colorizer, paths, hint_counts=(0, 2, 20), sheet=tmp_path / "sheet.png")
    assert list(report["hints"]) == ["0", "2", "20"]
    assert "fidelity" not in report["hints"]["0"] and report["hints"]["2"]["fidelity"] > 0
    assert report["hints"]["20"]["psnr"] != report["hints"]["0"]["psnr"]  # the hints reached the network
    again = evaluate(colorizer, paths, hint_counts=(2,))
    assert again["hints"]["2"] == report["hints"]["2"]  # the same hints for the same photo and count


def test_the_ten_point_score_gives_each_photo_ten_points_with_their_patches_colours(echo_weights, photo_folder):
    """The protocol behind the "10 points" scores: ten 6x6 patches per photo, each given as one point at its centre
    with the patch's mean colour, spread around the photo; with a net that follows points (echo), the result
    takes their colours and comes closer to the original."""
    from model.color import rgb_to_lab_np
    from model.colorizer import Colorizer
    echo = Colorizer.load(echo_weights)
    asked = []

    def recording(image, size=None, hints=None, restore="auto"):
        asked.append((np.asarray(image), hints))
        return echo(image, size=size, hints=hints, restore=restore)
    paths = sorted(photo_folder.iterdir())[:3]
    report = evaluate(recording, paths, hint_counts=(0, 10))
    assert [hints is None for _, hints in asked] == [True, False] * 3  # automatic, then 10 points, per photo
    for original, hints in asked[1::2]:
        assert len(hints) == 10 and len({(h.x, h.y) for h in hints}) > 5
        lab = rgb_to_lab_np(original)
        for hint in hints:  # the point is the centre of a 6x6 patch, its colour the patch's mean ab
            patch = lab[hint.y - 3:hint.y + 3, hint.x - 3:hint.x + 3, 1:]
            assert patch.shape[:2] == (6, 6)
            assert np.allclose(patch.reshape(-1, 2).mean(axis=0), (hint.a, hint.b), atol=1e-3)
    chroma = np.mean([np.hypot(h.a, h.b) for _, hints in asked[1::2] for h in hints])
    assert report["hints"]["10"]["fidelity"] < chroma / 2  # the result has the points' colours where they are
    assert report["hints"]["10"]["psnr"] > report["hints"]["0"]["psnr"] + 0.1


def test_hint_fidelity_is_the_ab_distance_over_the_hinted_patches():
    from model.hints import Hint
    from training.evaluate import hint_fidelity
    result = np.full((20, 20, 3), 128, np.uint8)  # gray: a = b = 0 everywhere
    hints = [Hint(5, 5, 30.0, 40.0), Hint(15, 15, 0.0, 0.0)]
    assert hint_fidelity(result, hints, [(2, 2), (12, 12)], 6) == pytest.approx((50 + 0) / 2, abs=0.01)


def test_photos_named_by_source_get_a_table_each(colorizer, photo_folder, tmp_path):
    from training.evaluate import format_table
    for i, name in enumerate(["sky_1.jpg", "sky_2.jpg", "face_1.jpg"]):
        (tmp_path / name).write_bytes(sorted(photo_folder.iterdir())[i].read_bytes())
    report = evaluate(colorizer, sorted(tmp_path.iterdir()), hint_counts=(0, 1))
    assert sorted(report["sources"]) == ["face", "sky"]
    assert report["sources"]["sky"]["images"] == 2 and report["sources"]["face"]["images"] == 1
    assert "sources" not in evaluate(colorizer, sorted(photo_folder.iterdir())[:2])  # photo_00, photo_01: one source
    table = format_table(report)
    assert "per source" in table and "\nsky " in table and "\nface " in table


def test_fid_and_inception_score_with_a_supplied_detector(colorizer, photo_folder, tmp_path):
    class FakeInception(torch.nn.Module):
        """The interface of StyleGAN2-ADA's inception-2015-12-05.pt, with a tiny random body."""

        def __init__(self):
            super().__init__()
            self.features = torch.nn.Linear(3, 8)
            self.classes = torch.nn.Linear(8, 5)

        def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False):
            assert x.dtype == torch.uint8 and x.shape[1:] == (3, 299, 299)
            f = self.features(x.float().mean(dim=(2, 3)) / 255)
            return f if return_features else torch.softmax(self.classes(f), dim=1)
    path = tmp_path / "inception.pt"
    torch.jit.save(torch.jit.script(FakeInception()), str(path))
    paths = sorted(photo_folder.iterdir())[:6]
    report = evaluate(colorizer, paths, inception=path)
    # the same numbers, computed here from the detector's features of the same images
    from training.data import open_rgb
    from training.evaluate import inception_outputs
    detector = torch.jit.load(str(path))
    originals = [open_rgb(p) for p in paths]
    real, _ = inception_outputs(detector, originals)
    fake, probs = inception_outputs(detector, [colorizer(o) for o in originals])
    expected = frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))
    assert report["ours"]["fid"] == pytest.approx(expected) and report["ours"]["fid"] > 0
    assert report["ours"]["inception_score"] == pytest.approx(inception_score(probs)[0])


def test_the_command_prints_a_table_and_writes_json(tiny_weights, photo_folder, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["--images", str(photo_folder), "--weights", str(tiny_weights), "--split", "validation",
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "gray" in table and "automatic" in table and "PSNR" in table
    report = json.loads(out.read_text())
    assert 0 < report["images"] < 24 and report["split"] == "validation"
    assert report["points_edge_scale"] == 4.0  # the model's own


def test_the_command_measures_points_at_another_edge_scale(leaky_weights, photo_folder, tmp_path, capsys):
    """--points-edge-scale: the points' sweep at a setting export can then write into the weights. The stand-in
    net spreads a point's colour over the whole photo, so a larger scale moves the sweep."""
    reports = {}
    for scale in (None, 64.0):
        out = tmp_path / f"{scale}.json"
        assert main(["--images", str(photo_folder), "--weights", str(leaky_weights), "--limit", "6", "--hints",
                     "0,10", "--json", str(out)] + ([] if scale is None else ["--points-edge-scale", str(scale)])) == 0
        reports[scale] = json.loads(out.read_text())
    assert reports[None]["points_edge_scale"] == 4.0 and reports[64.0]["points_edge_scale"] == 64.0
    assert reports[None]["hints"]["0"] == reports[64.0]["hints"]["0"]  # no points: the same
    assert reports[None]["hints"]["10"]["psnr"] != reports[64.0]["hints"]["10"]["psnr"]
    with pytest.raises(SystemExit):
        main(["--images", str(photo_folder), "--weights", str(leaky_weights), "--points-edge-scale", "0"])
    assert "--points-edge-scale must be above 0" in capsys.readouterr().err


def test_degrade_scores_clean_old_and_repaired_photos(tiny_weights, photo_folder, tmp_path, capsys):
    sheet, report_path = tmp_path / "sheet.jpg", tmp_path / "report.json"
    assert main(["--images", str(photo_folder), "--weights", str(tiny_weights), "--limit", "4", "--degrade",
                 "--sheet", str(sheet), "--json", str(report_path)]) == 0
    conditions = json.loads(report_path.read_text())["conditions"]
    assert list(conditions) == ["clean", "clean, auto", "old, off", "old, auto", "old, on"]
    assert conditions["clean"]["changed"] == 0 and conditions["old, off"]["changed"] == 0
    assert conditions["old, on"]["changed"] == 4  # every old photo repaired
    assert all(0 < c["psnr"] < 60 and c["colorfulness"] >= 0 for c in conditions.values())
    assert conditions["old, on"]["lightness_psnr"] != conditions["old, off"]["lightness_psnr"]  # the repaired L
    assert conditions["clean"]["lightness_psnr"] > 60  # the clean gray's own lightness, to rounding
    assert "| old, on |" in capsys.readouterr().out
    with Image.open(sheet) as image:
        assert image.width > 4 * image.height / 4  # five columns
