import re
import shutil
from pathlib import Path

import pytest

from model.colorizer import Colorizer
from tests.conftest import SHARED_TRAIN, bins_checkpoint
from training.calibrate import calibrate, least_keeping, main, shortfalls, suggest, weights_beside
from training.data import list_images, split_paths
from training.evaluate import evaluate


def test_suggest_takes_the_most_colourful_setting_that_keeps_the_psnr_gain():
    rows = [{"psnr": 25.0, "psnr_gray": 24.0, "colorfulness": 10.0, "ratio": 0.3},
            {"psnr": 24.7, "psnr_gray": 24.0, "colorfulness": 20.0, "ratio": 0.6},
            {"psnr": 24.2, "psnr_gray": 24.0, "colorfulness": 30.0, "ratio": 0.9}]
    assert suggest(rows, 0.6)["colorfulness"] == 20.0
    assert suggest(rows, 0.1)["colorfulness"] == 30.0
    assert suggest(rows, 1.5) is None


def test_suggest_keeps_every_source_above_gray_the_hints_gain_and_no_more_colour_than_the_originals():
    base = {"psnr": 26.0, "psnr_gray": 24.0, "worst_source": "pets", "hinted_psnr": 27.5}
    rows = [base | {"colorfulness": 10.0, "ratio": 0.3, "worst_source_gain": 0.4},
            base | {"colorfulness": 20.0, "ratio": 0.6, "worst_source_gain": -0.1},  # pets below gray
            base | {"colorfulness": 40.0, "ratio": 1.1, "worst_source_gain": 0.2}]  # more than the originals
    assert suggest(rows, 0.6, 3.0)["colorfulness"] == 10.0
    assert shortfalls(rows[1], 0.6, 3.0) == ["pets photos below gray"]
    assert shortfalls(rows[2], 0.6, 3.0) == ["more colourful than the originals"]
    assert shortfalls(rows[0], 0.6, 4.0) == ["with hints under gray + 4 dB"]
    assert suggest(rows, 0.6, 4.0) is None
    assert suggest(rows, 0.6, 3.0, source_floor=-0.2)["colorfulness"] == 20.0  # pets may lose 0.2 dB
    assert shortfalls(rows[1], 0.6, 3.0, -0.05) == ["pets photos below gray -0.05 dB"]


@pytest.mark.slow  # the bins head, not the shipped one: the whole run has it
def test_calibrate_scores_each_setting_of_a_bins_head_on_photos(photo_folder, tmp_path):
    paths = sorted(photo_folder.iterdir())[:3]
    rows = calibrate(bins_checkpoint(tmp_path), paths, corrections=(0.0,), temperatures=(1.0, 0.1))
    assert [(row["prior_correction"], row["temperature"]) for row in rows] == [(0.0, 1.0), (0.0, 0.1)]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]  # sharper softmax, more colour
    assert all(row["psnr_gray"] == rows[0]["psnr_gray"] for row in rows)


def test_calibrate_sweeps_the_chroma_gain_of_a_regression_head(tiny_checkpoint, photo_folder):
    paths = sorted(photo_folder.iterdir())[:3]
    rows = calibrate(tiny_checkpoint, paths, working_size=40, gains=(1.0, 2.0), hints=5)
    assert [row["chroma_gain"] for row in rows] == [1.0, 2.0]
    assert rows[1]["colorfulness"] > rows[0]["colorfulness"]
    assert rows[0]["hinted_psnr"] != rows[0]["psnr"] and rows[0]["fidelity"] > 0


def test_calibrate_prints_the_export_flags_it_suggests(tiny_checkpoint, photo_folder, capsys):
    assert main([str(tiny_checkpoint), "--images", str(photo_folder), "--photos", "3", "--hints", "0",
                 "--gains", "1,1.5", "--min-gain", "-100"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "suggested: --chroma-gain 1.5 " in out  # the more colourful, and nothing is below -100 dB
    # to a new file in the run folder: never the shipped model
    new = tiny_checkpoint.parent / "colorizer.pt"
    assert f"python -m training.export {tiny_checkpoint} {new} --chroma-gain 1.5" in out
    assert "weights/colorizer.pt" not in out
    assert "photo 3/3: " in captured.err and " left" in captured.err  # progress, with the time left
    assert main([str(tiny_checkpoint), "--images", str(photo_folder), "--photos", "3", "--hints", "2",
                 "--gains", "1,1.5", "--min-gain", "100"]) == 1
    out = capsys.readouterr().out  # no setting meets it: it still says what to export, the most accurate
    assert "no setting meets every condition" in out and "PSNR under gray + 100 dB" in out
    assert "python -m training.export" in out


def test_the_suggested_file_is_beside_the_checkpoint():
    assert weights_beside(Path("runs/a/checkpoint.pt")) == Path("runs/a/colorizer.pt")
    assert weights_beside(Path("runs/a/checkpoint_000500.pt")) == Path("runs/a/colorizer_000500.pt")
    assert weights_beside(Path("runs/a/best.pt")) == Path("runs/a/best_colorizer.pt")


def test_a_gain_sweep_runs_the_network_once_per_photo_and_hint_count(tiny_weights, photo_folder, capsys):
    """The gains apply after the network: the sweep scores as each gain alone would, at the cost of one."""
    paths = sorted(photo_folder.iterdir())[:2]
    colorizer = Colorizer.load(tiny_weights)
    calls = []
    network = colorizer.network

    def counting(*inputs):
        calls.append(1)
        return network(*inputs)
    colorizer.network = counting
    swept = evaluate(colorizer, paths, hint_counts=(0, 3), gains=(1.0, 1.5, 2.0))
    assert len(calls) == 2 * 2  # photos x hint counts, not x 3 gains
    alone = evaluate(Colorizer.load(tiny_weights).at_operating_point(2.0), paths, hint_counts=(0, 3))
    assert swept["gains"]["2"]["ours"]["psnr"] == alone["ours"]["psnr"]
    assert swept["gains"]["2"]["hints"]["3"] == alone["hints"]["3"]
    assert swept["gains"]["1"]["ours"]["psnr"] != alone["ours"]["psnr"]  # and the gains do differ
    assert "photo 2/2" in capsys.readouterr().err


@pytest.mark.slow  # repairs real photos, twice a gain: the whole run has it
def test_old_prints_choose_the_gain_of_the_photos_the_repair_changes(tiny_checkpoint, tmp_path, capsys):
    """--old-prints: the same training photos made old and colorized with restore auto, those repaired at each
    gain; the least gain that keeps --keep-colour of the clean photos' colour is suggested, in the export command
    beside the clean photos' gain."""
    if not SHARED_TRAIN.is_dir():
        pytest.skip(f"the shared photos are not at {SHARED_TRAIN}")  # auto's gate takes real photos made old
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in split_paths(list_images(SHARED_TRAIN), 0.25)[0][:4]:  # the tiny run's training share, by name
        shutil.copy(path, folder / path.name)
    main([str(tiny_checkpoint), "--images", str(folder), "--photos", "4", "--hints", "0", "--gains", "1",
          "--old-prints", "--repaired-gains", "1,2,3", "--keep-colour", "1.15", "--min-gain", "-100"])
    out = capsys.readouterr().out
    assert int(re.search(r"old prints: (\d) of 4 repaired", out)[1]) >= 1
    table = {float(cells[0]): cells for cells in (line.split() for line in out.splitlines())
             if len(cells) == 8 and re.fullmatch(r"[123]\.00", cells[0])}
    colour, share = ({gain: float(cells[i].rstrip("%")) for gain, cells in table.items()} for i in (3, 5))
    assert sorted(table) == [1.0, 2.0, 3.0] and colour[1.0] < colour[2.0] < colour[3.0]  # more colour where repaired
    kept = [gain for gain in sorted(table) if share[gain] >= 115]  # the tiny net: 104%, 126%, 151%
    assert kept and kept[0] > 1, "the tiny net should need a gain above 1 to keep 115% of the clean photos' colour"
    assert f"suggested for repaired photos: --repaired-gain {kept[0]:g} " in out
    assert f"python -m training.export {tiny_checkpoint} {tiny_checkpoint.parent / 'colorizer.pt'} --chroma-gain 1 " \
           f"--repaired-gain {kept[0]:g}" in out


def test_the_repaired_gain_is_the_least_that_keeps_the_colour_asked_above_the_psnr_floor():
    rows = [{"repaired_gain": g, "clean_share": share, "psnr": psnr, "psnr_gray": 24.0}
            for g, share, psnr in ((1.0, 0.75, 26.0), (1.2, 0.86, 25.8), (1.4, 0.92, 25.5), (1.6, 0.99, 24.4))]
    assert least_keeping(rows, 0.9, 0.6)["repaired_gain"] == 1.4
    assert least_keeping(rows, 0.85, 0.6)["repaired_gain"] == 1.2
    assert least_keeping(rows, 0.95, 0.6) is None  # 1.6 keeps it, but only 0.4 dB above gray
    assert least_keeping(rows, 0.95, 0.3)["repaired_gain"] == 1.6
