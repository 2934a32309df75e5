import re
import shutil
from pathlib import Path

import pytest

from model.colorizer import Colorizer
from tests.conftest import SHARED_TRAIN, bins_checkpoint
from training.calibrate import (calibrate, least_keeping, main, nearest_colour, shortfalls, suggest, weights_beside,
                                worst_source)
from training.data import list_images, split_paths
from training.evaluate import evaluate
from training.export import export


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


def test_the_worst_source_is_chosen_among_those_with_enough_photos():
    sources = {"roads": {"photos": 3, "vs_gray": -0.5}, "pets": {"photos": 40, "vs_gray": 0.2},
               "food": {"photos": 12, "vs_gray": 0.5}}
    assert worst_source(sources) == ("roads", -0.5)  # three photos decide, as before
    assert worst_source(sources, 10) == ("pets", pytest.approx(0.2))  # they are shown, and do not decide
    assert worst_source(sources, 41) is None


def test_nearest_colour_takes_the_row_nearest_the_reference_and_the_less_colourful_of_two():
    rows = [{"chroma_gain": g, "ratio": r} for g, r in ((1.0, 0.5), (1.25, 0.75), (1.5, 1.0))]
    assert nearest_colour(rows, 0.8)["chroma_gain"] == 1.25
    assert nearest_colour(rows, 0.9)["chroma_gain"] == 1.5
    assert nearest_colour(rows, 0.875)["chroma_gain"] == 1.25  # as near to both: the less colourful
    assert nearest_colour(rows, 0.2)["chroma_gain"] == 1.0


@pytest.fixture
def two_sources(photo_folder, tmp_path) -> Path:
    """The synthetic photos under two file-name prefixes: 20 "pets", 4 "roads" (the four the tiny net colours
    worst: roads is further below its gray than pets)."""
    folder = tmp_path / "sources"
    folder.mkdir()
    for i, path in enumerate(sorted(photo_folder.iterdir())):
        shutil.copy(path, folder / f"{'roads' if 8 <= i < 12 else 'pets'}_{i:02d}.jpg")
    return folder


def test_the_source_floor_counts_only_sources_with_enough_of_the_photos(tiny_checkpoint, two_sources):
    paths = sorted(two_sources.iterdir())
    every, enough = (calibrate(tiny_checkpoint, paths, working_size=40, gains=(1.0,), min_source_photos=m)[0]
                     for m in (1, 5))
    assert set(every["sources"]) == {"pets", "roads"} and every["sources"]["roads"]["photos"] == 4
    assert every["worst_source"] == min(every["sources"], key=lambda name: every["sources"][name]["vs_gray"])
    assert every["worst_source"] == "roads"
    assert enough["worst_source"] == "pets"  # roads has 4 photos: shown, not deciding
    assert enough["worst_source_gain"] == pytest.approx(every["sources"]["pets"]["vs_gray"])


def test_a_small_source_below_the_floor_does_not_block_the_suggestion(tiny_checkpoint, two_sources, capsys):
    flags = [str(tiny_checkpoint), "--images", str(two_sources), "--photos", "100", "--hints", "0", "--gains", "1",
             "--min-gain", "-100", "--source-floor", "-0.3"]
    assert main(flags + ["--min-source-photos", "1"]) == 1  # roads, its few training photos, under the floor
    assert "roads photos below gray -0.3 dB" in capsys.readouterr().out
    assert main(flags) == 0  # the default (10): roads does not decide; pets, above the floor, does
    out = capsys.readouterr().out
    assert "suggested: --chroma-gain 1 " in out and re.search(r" pets [+-]0\.\d\d\n", out)


def test_the_validation_split_scores_the_photos_the_run_held_out(tiny_checkpoint, two_sources, monkeypatch, capsys):
    import training.calibrate as module
    scored = []

    def recording(checkpoint, paths, *args, **kwargs):
        scored.append(list(paths))
        return calibrate(checkpoint, paths, *args, **kwargs)
    monkeypatch.setattr(module, "calibrate", recording)
    training, held_out = split_paths(list_images(two_sources), 0.25)  # the tiny run's --val-fraction
    for split, expected in (("validation", held_out), ("training", training)):
        assert main([str(tiny_checkpoint), "--images", str(two_sources), "--split", split, "--photos", "100",
                     "--hints", "0", "--gains", "1", "--min-gain", "-100", "--source-floor", "-100"]) == 0
        assert sorted(scored[-1]) == sorted(expected)
        word = "held-out" if split == "validation" else "training"
        assert f"scoring {len(expected)} {word} photos of {two_sources}" in capsys.readouterr().out


def test_match_colour_suggests_the_gain_of_the_reference_files_colour(tiny_checkpoint, two_sources, tmp_path,
                                                                      capsys):
    """The same network exported at gain 2 is matched at 2, at gain 1 at 1; the comparison is printed."""
    for gain in (1.0, 2.0):
        reference = tmp_path / f"reference_{gain:g}.pt"
        export(tiny_checkpoint, reference, chroma_gain=gain)
        assert main([str(tiny_checkpoint), "--images", str(two_sources), "--photos", "100", "--hints", "0",
                     "--gains", "1,1.5,2", "--match-colour", str(reference), "--min-source-photos", "3"]) == 0
        out = capsys.readouterr().out
        assert f"Nearest its colour: --chroma-gain {gain:g}, " in out
        assert f"--chroma-gain {gain:g}\n" in out.split("suggested, to compare at equal colour:")[1]
        lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
        assert lines["all"][-1] == "+0.00" and lines["pets"][-1] == "+0.00"  # the same network at the same gain
        assert "few photos" not in " ".join(lines["roads"])  # 3 or more of the photos
    main([str(tiny_checkpoint), "--images", str(two_sources), "--photos", "100", "--hints", "0", "--gains", "1,2",
          "--match-colour", str(reference), "--min-source-photos", "10"])
    assert "(few photos)" in next(line for line in capsys.readouterr().out.splitlines() if "roads" in line)
    with pytest.raises(SystemExit):
        main([str(tiny_checkpoint), "--images", str(two_sources), "--match-colour", str(tmp_path / "none.pt")])
