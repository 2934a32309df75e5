import json
import subprocess
import sys

import pytest
import torch

from model.colorizer import Colorizer
from model.generator import Generator
from model.weights import load_network
from tests.conftest import TINY, bins_checkpoint, tiny_checkpoint_dict
from training import export as export_module
from training.export import export


def test_export_round_trip_matches_the_checkpoint(tiny_checkpoint, tmp_path):
    out = tmp_path / "weights" / "colorizer.pt"
    info = export(tiny_checkpoint, out)
    network, loaded_info = load_network(out)
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    generator = Generator(**checkpoint["spec"]).eval()
    generator.load_state_dict(checkpoint["ema"])
    x, hints = torch.randn(1, 1, 20, 28), torch.zeros(1, 3, 20, 28)
    hints[:, :, 4:9, 6:11] = torch.tensor([0.4, 0.1, 1.0])[:, None, None]
    with torch.no_grad():
        assert torch.allclose(network(x), generator(x), atol=1e-3)  # float16 storage, float32 arithmetic
        assert torch.allclose(network(x, hints), generator(x, hints), atol=1e-3)
        assert not torch.allclose(network(x, hints), network(x), atol=1e-2)  # the hints reach the output
    assert loaded_info["working_size"] == 48 and loaded_info["generator"] == checkpoint["spec"]  # verbatim
    assert loaded_info["training"]["config"]["image_size"] == 32 and info["parameters"] > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["colorizer.pt"]  # no temporary file left
    # stored as float16, computed in float32: a float16 net would reject the float32 input above
    assert loaded_info["storage"] == "float16" and network(x).dtype == torch.float32


def test_export_takes_the_averaged_weights_unless_raw(tmp_path):
    state = tiny_checkpoint_dict()
    state["ema"] = {k: v + 0.1 if v.is_floating_point() else v for k, v in state["ema"].items()}
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    x = torch.randn(1, 1, 16, 16)
    ema_out, raw_out = tmp_path / "ema.pt", tmp_path / "raw.pt"
    export(path, ema_out)
    export(path, raw_out, use_ema=False)
    with torch.no_grad():
        assert not torch.allclose(load_network(ema_out)[0](x), load_network(raw_out)[0](x))
    assert load_network(raw_out)[1]["weights"] == "raw"


def test_a_failed_export_leaves_the_existing_weights_untouched(tiny_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "colorizer.pt"
    export(tiny_checkpoint, out)
    before = out.read_bytes()

    def save_garbage(generator, path, info):
        path.write_bytes(b"half a model")
    monkeypatch.setattr(export_module, "save_network", save_garbage)
    with pytest.raises(Exception):
        export(tiny_checkpoint, out)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["colorizer.pt"]


def strings(value) -> list[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, dict):
        return [*value] + [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def test_export_embeds_no_paths_of_the_training_machine(tmp_path):
    config = tiny_checkpoint_dict()["config"] | {"data": "/home/someone/photos", "out": "/home/someone/runs/a",
                                                 "init": "/home/someone/weights/base.pt"}
    state = tiny_checkpoint_dict() | {"config": config}
    run = tmp_path / "run"
    run.mkdir()
    torch.save(state, run / "checkpoint.pt")
    (run / "data.json").write_text(json.dumps({"train_images": 3, "init": "base.pt", "init_sha256": "ab" * 32}))
    export(run / "checkpoint.pt", tmp_path / "w.pt")
    info = load_network(tmp_path / "w.pt")[1]
    assert not [s for s in strings(info) if "/" in s or "\\" in s], "a path in the weights file's info"
    assert info["training"]["config"]["init"] == "base.pt" and info["training"]["init_sha256"] == "ab" * 32
    assert info["training"]["config"]["data"] == "photos" and info["training"]["config"]["out"] == "a"


def test_export_refuses_to_replace_the_shipped_model_without_force(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from model.weights import DEFAULT_WEIGHTS
    assert export_module.is_shipped(DEFAULT_WEIGHTS)  # the real one is guarded (and never written by this test)
    assert not export_module.is_shipped(tmp_path / "colorizer.pt")
    shipped = tmp_path / "weights" / "colorizer.pt"  # a stand-in for it
    shipped.parent.mkdir()
    shipped.write_bytes(b"the shipped model")
    monkeypatch.setattr(export_module, "DEFAULT_WEIGHTS", shipped)
    (tmp_path / "link.pt").symlink_to(shipped)
    for target in (shipped, tmp_path / "weights" / ".." / "weights" / "colorizer.pt", tmp_path / "link.pt"):
        with pytest.raises(ValueError, match="is the shipped model.*--force"):
            export(tiny_checkpoint, target)
    with pytest.raises(SystemExit, match="--force to replace the shipped one"):
        export_module.main([str(tiny_checkpoint), str(shipped)])
    assert shipped.read_bytes() == b"the shipped model"
    export_module.main([str(tiny_checkpoint), str(shipped), "--force"])
    assert load_network(shipped)[1]["working_size"] == 48
    out = capsys.readouterr().out  # and says what to run next
    assert f"python -m training.evaluate --images PHOTOS --split validation --weights {shipped}" in out


@pytest.mark.slow
def test_train_resume_export_colorize_from_the_command_line(photo_folder, tmp_path):
    """The issue's acceptance path, as a user would type it (on synthetic photos)."""
    out, weights, colorized = tmp_path / "run", tmp_path / "w.pt", tmp_path / "colorized"
    common = ["--image-size", "64", "--scale-size", "64", "--base-channels", "8", "--batch-size", "4",
              "--val-fraction", "0.25", "--num-workers", "0", "--warmup-steps", "3"]
    commands = [
        ["training.train", "--data", str(photo_folder), "--out", str(out), "--max-steps", "6", *common],
        ["training.train", "--out", str(out), "--resume", "--max-steps", "10"],
        ["training.export", str(out / "checkpoint.pt"), str(weights)],
        ["model.colorize", str(photo_folder), "--output", str(colorized), "--weights", str(weights)],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stderr[-2000:]}"
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 10
    assert len(list(colorized.iterdir())) == len(list(photo_folder.iterdir()))
    assert Colorizer.load(weights).info["training"]["step"] == 10


@pytest.mark.slow  # the bins head, not the shipped one: the whole run has it
def test_export_sets_and_records_the_temperature_of_a_bins_head(tmp_path):
    path = bins_checkpoint(tmp_path)
    info = export(path, tmp_path / "vivid.pt", temperature=0.2)
    export(path, tmp_path / "muted.pt", temperature=1.0)
    assert info["temperature"] == 0.2 and load_network(tmp_path / "muted.pt")[1]["temperature"] == 1.0
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        vivid, muted = load_network(tmp_path / "vivid.pt")[0](x), load_network(tmp_path / "muted.pt")[0](x)
    assert vivid.shape == (1, 2, 32, 32) and vivid.norm(dim=1).mean() > muted.norm(dim=1).mean()


def test_export_refuses_a_temperature_for_a_regression_head(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="bins head"):
        export(tiny_checkpoint, tmp_path / "w.pt", temperature=0.5)
    assert not (tmp_path / "w.pt").exists()


@pytest.mark.slow  # the bins head, not the shipped one: the whole run has it
def test_prior_correction_undoes_the_rebalancing_in_the_head_bias(tmp_path):
    path = bins_checkpoint(tmp_path)
    export(path, tmp_path / "tilted.pt")
    info = export(path, tmp_path / "corrected.pt", prior_correction=1.0)
    assert info["prior_correction"] == 1.0
    state = torch.load(path, weights_only=True)
    generator = Generator(**{**TINY, "stem_stride": 2, "head": "bins"}).eval()
    generator.load_state_dict(state["ema"])
    expected_bias = generator.head.conv.bias - state["class_weights"].log()
    corrected = torch.jit.load(str(tmp_path / "corrected.pt"))
    assert torch.allclose(corrected.head.conv.bias.float(), expected_bias, atol=2e-3)  # float16 storage
    with pytest.raises(ValueError, match="between 0 and 1"):
        export(path, tmp_path / "bad.pt", prior_correction=2.0)


def test_export_can_set_the_working_size_the_colorizer_uses(tiny_checkpoint, tmp_path):
    info = export(tiny_checkpoint, tmp_path / "w.pt", working_size=40)
    assert info["working_size"] == 40 and Colorizer.load(tmp_path / "w.pt").default_size == 40
    assert export(tiny_checkpoint, tmp_path / "d.pt")["working_size"] == 48  # the run's --scale-size
    with pytest.raises(ValueError, match="--working-size"):
        export(tiny_checkpoint, tmp_path / "bad.pt", working_size=4)


def test_export_records_the_chroma_gains_and_refuses_a_bad_one(tiny_checkpoint, tmp_path):
    assert export(tiny_checkpoint, tmp_path / "d.pt")["chroma_gain"] == 1.0
    info = export(tiny_checkpoint, tmp_path / "w.pt", chroma_gain=1.8)
    assert info["chroma_gain"] == 1.8 and "repaired_chroma_gain" not in info  # recorded only when given ...
    loaded = Colorizer.load(tmp_path / "w.pt")
    assert loaded.chroma_gain == loaded.repaired_gain == 1.8  # ... else repaired photos get the photos' own
    for bad in (0.0, -1.0, 5.0):
        with pytest.raises(ValueError, match="--chroma-gain"):
            export(tiny_checkpoint, tmp_path / "bad.pt", chroma_gain=bad)
        with pytest.raises(ValueError, match="--repaired-gain"):
            export(tiny_checkpoint, tmp_path / "bad.pt", repaired_gain=bad)
    assert not (tmp_path / "bad.pt").exists()
    assert export(tiny_checkpoint, tmp_path / "r.pt", chroma_gain=1.2, repaired_gain=1.5)["repaired_chroma_gain"] == 1.5
    loaded = Colorizer.load(tmp_path / "r.pt")
    assert (loaded.chroma_gain, loaded.repaired_gain) == (1.2, 1.5)


def test_export_records_the_points_edge_scale_only_when_given_and_refuses_a_bad_one(tiny_checkpoint, tmp_path):
    assert "points_edge_scale" not in export(tiny_checkpoint, tmp_path / "d.pt")
    assert Colorizer.load(tmp_path / "d.pt").edge_scale == 4.0  # model.points.EDGE_SCALE
    assert export(tiny_checkpoint, tmp_path / "e.pt", points_edge_scale=6.5)["points_edge_scale"] == 6.5
    assert Colorizer.load(tmp_path / "e.pt").edge_scale == 6.5
    for bad in (0.0, -2.0, 65.0):
        with pytest.raises(ValueError, match="--points-edge-scale"):
            export(tiny_checkpoint, tmp_path / "bad.pt", points_edge_scale=bad)
    assert not (tmp_path / "bad.pt").exists()
