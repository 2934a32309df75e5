import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from model.networks import build_generator
from training.config import TrainConfig, parse_args
from model.files import atomic_write
from training import train as train_module
from training.recipes import Adversarial, Regression
from training.train import Trainer, autocast_dtype, learning_rate, main

TINY_RUN = ["--image-size", "32", "--scale-size", "48", "--batch-size", "4", "--base-channels", "8", "--levels", "3",
            "--critic-channels", "8", "--val-fraction", "0.25", "--num-workers", "0", "--log-every", "1",
            "--eval-every", "2", "--checkpoint-every", "2", "--warmup-steps", "1"]


def run(photo_folder, out, *extra):
    main(["--data", str(photo_folder), "--out", str(out), *TINY_RUN, *extra])


def read_metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_tiny_run_trains_l1_with_hints_by_default_and_leaves_its_files(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "3")
    assert (out / "checkpoint.pt").exists() and (out / "config.json").exists()
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert not any("adversarial" in r or "gp" in r for r in rows)  # no critic unless asked for
    assert all(torch.isfinite(torch.tensor(r["generator"])) for r in rows)
    assert "val_psnr" in rows[1] and "val_psnr_hints10" in rows[1]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png", "step_000003.png"]
    assert json.loads((out / "config.json").read_text())["max_steps"] == 3
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["spec"] == {"base_channels": 8, "levels": 3, "blocks_per_level": 1, "stem_stride": 2,
                                  "head": "ab", "temperature": 0.38}
    # the hint layer learns: it starts at zero and must have moved
    assert checkpoint["generator"]["hint_stem.weight"].abs().max() > 0


@pytest.mark.slow
def test_the_adversarial_phase_is_an_option_after_the_warm_up(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "3", "--adversarial", "true")
    rows = read_metrics(out)
    assert "adversarial" not in rows[0] and "gp" in rows[1] and "adversarial" in rows[1]  # warm-up, then GAN
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    main(["--out", str(out), "--resume", "--max-steps", "4"])  # the critic and its optimizer carry on
    second = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["opt_c"]["state"][0]["step"] == 2 and second["opt_c"]["state"][0]["step"] == 3
    assert not torch.equal(first["critic"]["net.0.weight"], second["critic"]["net.0.weight"])


@pytest.mark.slow
def test_the_log_l1_loss_is_what_a_run_minimizes_when_asked_for(photo_folder, tmp_path):
    run(photo_folder, tmp_path / "l1", "--max-steps", "1")
    run(photo_folder, tmp_path / "log", "--max-steps", "1", "--loss", "log_l1")
    (l1,), (log,) = read_metrics(tmp_path / "l1"), read_metrics(tmp_path / "log")
    assert "log_l1" not in l1 and l1["generator"] == pytest.approx(100 * l1["l1"], rel=1e-4)
    assert log["generator"] == pytest.approx(100 * log["log_l1"], rel=1e-4) and log["log_l1"] < 0  # log of errors < 1


def test_a_missing_data_folder_is_one_line_and_leaves_no_run_folder(tmp_path):
    with pytest.raises(SystemExit, match="no such folder of photos") as stop:
        main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert "\n" not in str(stop.value) and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_init_takes_the_weights_and_architecture_of_a_weights_file(photo_folder, tmp_path, tiny_weights):
    from model.weights import read_state
    out = tmp_path / "run"
    flags = ["--data", str(photo_folder), "--out", str(out), "--init", str(tiny_weights), "--image-size", "32",
             "--scale-size", "48", "--batch-size", "4", "--val-fraction", "0.25", "--num-workers", "0"]
    with pytest.raises(SystemExit, match="fixes the architecture; drop --stem-stride 2"):
        main([*flags, "--stem-stride", "2"])
    main([*flags, "--max-steps", "1", "--lr", "0"])  # no learning: the weights stay the file's
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    info, state = read_state(tiny_weights)
    assert checkpoint["spec"] == info["generator"] and checkpoint["config"]["stem_stride"] == 1
    assert torch.equal(checkpoint["generator"]["stem.0.weight"], state["stem.0.weight"].float())
    assert torch.equal(checkpoint["generator"]["hint_stem.weight"], state["hint_stem.weight"].float())


@pytest.mark.slow
def test_resume_refuses_another_architecture(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "1")
    saved = (out / "config.json").read_text()
    with pytest.raises(SystemExit, match="architecture cannot change in a run; drop --levels"):
        main(["--out", str(out), "--resume", "--max-steps", "2", "--levels", "2"])
    assert (out / "config.json").read_text() == saved


@pytest.mark.slow
def test_training_changes_the_weights_and_resume_continues(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "2")
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    main(["--out", str(out), "--resume", "--max-steps", "4"])
    second = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["step"] == 2 and second["step"] == 4
    assert second["config"]["max_steps"] == 4 and second["config"]["base_channels"] == 8  # saved config kept
    name = "head.weight"
    assert not torch.equal(first["generator"][name], second["generator"][name])
    assert not torch.equal(first["opt_g"]["state"][0]["exp_avg"], second["opt_g"]["state"][0]["exp_avg"])
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4]


@pytest.mark.slow
def test_keep_every_keeps_milestone_checkpoints(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "4", "--keep-every", "2")
    assert sorted(p.name for p in out.glob("checkpoint*.pt")) == [
        "checkpoint.pt", "checkpoint_000002.pt", "checkpoint_000004.pt"]
    assert torch.load(out / "checkpoint_000002.pt", weights_only=True)["step"] == 2


@pytest.mark.slow
def test_resume_without_a_checkpoint_and_overwriting_a_run_are_refused(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match="holds no run to continue"):
        main(["--data", str(photo_folder), "--out", str(tmp_path / "empty"), "--resume"])
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "1")
    with pytest.raises(SystemExit, match="--resume"):
        run(photo_folder, out, "--max-steps", "1")


@pytest.mark.slow
def test_old_prints_train_on_a_damaged_gray_against_the_clean_colours(photo_folder, tmp_path, monkeypatch):
    import training.train as train_module
    seen, real = [], train_module.to_model_inputs
    monkeypatch.setattr(train_module, "to_model_inputs", lambda rgb: seen.append(rgb.shape[1]) or real(rgb))
    run(photo_folder, tmp_path / "old", "--max-steps", "2", "--old-prints", "0.5")
    assert json.loads((tmp_path / "old" / "config.json").read_text())["old_prints"] == 0.5
    assert seen == [4, 4, 3]  # two training batches (RGB and the gray to see), one validation (RGB)
    with pytest.raises(SystemExit, match="--old-prints must be between 0 and 1"):
        run(photo_folder, tmp_path / "bad", "--old-prints", "1.5")


def test_bad_configs_are_refused_with_the_flag_named(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match="--image-size must be a multiple of 8"):
        run(photo_folder, tmp_path / "a", "--image-size", "30")
    with pytest.raises(SystemExit, match="--data is required"):
        main(["--out", str(tmp_path / "b")])


def test_every_config_field_is_a_flag_and_round_trips_through_json():
    config, _, explicit = parse_args(["--batch-size", "3", "--amp", "false", "--lr", "0.001"])
    assert (config.batch_size, config.amp, config.lr) == (3, "false", 0.001)
    assert explicit == {"batch_size": 3, "amp": "false", "lr": 0.001}
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config
    for field in dataclasses.fields(TrainConfig):
        assert field.metadata["help"], f"{field.name} needs a help text"


def test_a_saved_config_with_missing_fields_is_refused_not_completed():
    saved = json.loads(TrainConfig().to_json())
    del saved["stem_stride"]
    with pytest.raises(ValueError, match="lacks stem_stride"):
        TrainConfig.from_dict(saved)


def test_a_run_saved_before_a_setting_existed_loads_with_the_setting_as_it_was_then():
    saved = json.loads(TrainConfig(zoom=1.5).to_json())
    del saved["zoom"]  # saved before --zoom existed: no zoom is what that run did
    assert TrainConfig.from_dict(saved).zoom == 1.0
    saved["zoom"] = 1.5
    assert TrainConfig.from_dict(saved).zoom == 1.5
    saved = json.loads(TrainConfig(loss="log_l1").to_json())
    del saved["loss"]  # saved before --loss existed: those runs trained on L1
    assert TrainConfig.from_dict(saved).loss == "l1"


def test_an_unknown_reconstruction_loss_is_refused_before_training():
    with pytest.raises(ValueError, match="--loss must be one of l1, log_l1"):
        TrainConfig(loss="l2").validate()
    with pytest.raises(ValueError, match="--loss applies to the ab head"):
        TrainConfig(loss="log_l1", head="bins").validate()


def test_the_architecture_defaults_are_the_generators():
    from model.generator import generator_defaults
    assert TrainConfig().spec() == generator_defaults()


def test_learning_rate_is_constant_then_decays_to_zero():
    config = TrainConfig(lr=1.0, max_steps=100, lr_decay_start=0.5)
    assert [learning_rate(config, s) for s in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"good")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"good" and list(tmp_path.iterdir()) == [target]
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o777 == 0o644  # readable by a service running as another user


@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_from_its_last_good_checkpoint(photo_folder, tmp_path):
    """SIGKILL at arbitrary moments (saves included) never leaves a checkpoint that cannot be loaded."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "training.train", "--data", str(photo_folder), "--out", str(out), *TINY_RUN,
               "--checkpoint-every", "1", "--max-steps", "100000"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # several more checkpoints, each replacing the last
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] >= 1
    main(["--out", str(out), "--resume", "--max-steps", str(state["step"] + 1), "--num-workers", "0"])
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == state["step"] + 1


@pytest.mark.slow
def test_a_bins_head_run_fits_its_colour_prior_once_and_resumes_with_it(photo_folder, tmp_path):
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "2", "--head", "bins", "--stem-stride", "2", "--image-size", "32")
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    weights = first["class_weights"]
    assert weights.shape == (262,) and torch.isfinite(weights).all() and weights.min() > 0
    rows = read_metrics(out)
    assert "cross_entropy" in rows[0] and "adversarial" not in rows[-1]  # no critic, whatever --warmup-steps says
    main(["--out", str(out), "--resume", "--max-steps", "3"])
    second = torch.load(out / "checkpoint.pt", weights_only=True)
    assert second["step"] == 3 and torch.equal(second["class_weights"], weights)
    assert not torch.equal(first["generator"]["head.conv.weight"], second["generator"]["head.conv.weight"])


def test_stem_stride_two_needs_crops_divisible_by_the_larger_stride(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match="--image-size must be a multiple of 8"):
        run(photo_folder, tmp_path / "a", "--stem-stride", "2", "--image-size", "36")
    with pytest.raises(SystemExit, match="--head must be ab or bins"):
        run(photo_folder, tmp_path / "b", "--head", "classes")


@pytest.mark.parametrize("cpu_precision,expected", [("float32", None), ("bfloat16", torch.bfloat16)])
def test_amp_auto_takes_bfloat16_only_on_a_cpu_that_computes_it_natively(monkeypatch, cpu_precision, expected):
    monkeypatch.setattr(train_module, "default_precision", lambda device="cpu": cpu_precision)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is expected
    assert autocast_dtype("true", cpu) is torch.bfloat16 and autocast_dtype("false", cpu) is None  # as asked
    trainer = Trainer(TrainConfig(base_channels=8, levels=3, device="cpu"), run_dir=None, resume=False)
    assert trainer.amp_dtype is expected and trainer.recipe.amp_dtype is expected
    with trainer.recipe.autocast():
        out = trainer.generator.stem(torch.randn(1, 1, 16, 16).contiguous(memory_format=torch.channels_last))
    assert out.dtype == (expected or torch.float32)
    assert ("bfloat16 is native here" if expected else "float32 (--amp auto: bfloat16 is not native here)") \
        in trainer.describe()


@pytest.mark.parametrize("supported", [True, False])
def test_amp_auto_on_a_gpu_asks_cuda_whether_it_supports_bfloat16(monkeypatch, supported):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: supported)
    assert autocast_dtype("auto", torch.device("cuda")) is (torch.bfloat16 if supported else None)


def test_amp_takes_auto_true_or_false_and_refuses_anything_else():
    assert TrainConfig().amp == "auto"
    assert parse_args(["--amp", "yes"])[0].amp == "true" and parse_args(["--amp", "0"])[0].amp == "false"
    with pytest.raises(SystemExit):
        parse_args(["--amp", "maybe"])
    with pytest.raises(ValueError, match="--amp must be auto, true or false"):
        TrainConfig(amp="maybe").validate()


def test_a_config_saved_with_the_old_amp_switch_and_l1_weight_loads():
    saved = json.loads(TrainConfig(reconstruction_weight=30.0).to_json())
    del saved["reconstruction_weight"]
    saved |= {"l1_weight": 30.0, "amp": True}  # as runs saved them when --amp was a switch, true by default
    config = TrainConfig.from_dict(saved)
    # true was the default, meant to be faster: auto is what makes it so, and no slower where bf16 is emulated
    assert config.amp == "auto" and config.reconstruction_weight == 30.0
    assert TrainConfig.from_dict(saved | {"amp": False}).amp == "false"
    assert parse_args(["--l1-weight", "5"])[2] == {"reconstruction_weight": 5.0}  # the old flag still works


@pytest.mark.slow
def test_a_log_line_holds_the_means_of_its_interval(photo_folder, tmp_path, monkeypatch):
    seen = []
    step = Regression.step

    def recording(self, *args):
        logs = step(self, *args)
        seen.append(logs)
        return logs
    monkeypatch.setattr(Regression, "step", recording)
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "6", "--log-every", "3", "--eval-every", "100")
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [3, 6] and len(seen) == 6
    for row, interval in zip(rows, (seen[:3], seen[3:])):
        for key in ("l1", "generator"):
            assert row[key] == pytest.approx(sum(logs[key] for logs in interval) / 3, rel=1e-6)
        assert row["l1"] != pytest.approx(interval[-1]["l1"], rel=1e-6)  # not the last step's value


@pytest.mark.slow
def test_the_first_lines_come_before_the_first_step_ends_and_the_last_says_what_next(photo_folder, tmp_path,
                                                                                     monkeypatch, capsys):
    before_first_step = []
    step = Regression.step

    def first(self, *args):
        if not before_first_step:
            before_first_step.append(capsys.readouterr().out)
        return step(self, *args)
    monkeypatch.setattr(Regression, "step", first)
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "2", "--log-every", "100", "--eval-every", "100")
    early = before_first_step[0]
    assert "24 image files" in early and "16 training and 8 validation photos" in early
    assert "L1 regression" in early and "device cpu" in early and "--amp auto" in early
    rest = capsys.readouterr().out
    assert re.search(r"^step 1/2: .*(s a step|steps/s), about .* left$", rest, re.M), rest
    assert re.search(r"^step 2/2: .*l1 .*, about .* left$", rest, re.M), rest  # the last step's log line
    assert f"python -m training.calibrate {out / 'checkpoint.pt'} --images {photo_folder}" in rest


@pytest.mark.slow
def test_a_run_folder_written_before_the_recipes_resumes(photo_folder, tmp_path):
    """Checkpoints held a critic and its optimizer for every run, configs an l1_weight and amp true or false."""
    out = tmp_path / "run"
    run(photo_folder, out, "--max-steps", "2")
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    critic = Adversarial(TrainConfig(**{**checkpoint["config"], "adversarial": True}),
                         build_generator(checkpoint["spec"]), torch.device("cpu"))
    checkpoint |= {"critic": critic.critic.state_dict(), "opt_c": critic.opt_c.state_dict()}
    config = checkpoint["config"]
    config["l1_weight"] = config.pop("reconstruction_weight")
    config["amp"] = True
    torch.save(checkpoint, out / "checkpoint.pt")
    (out / "config.json").write_text(json.dumps(config))
    main(["--out", str(out), "--resume", "--max-steps", "3"])
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    assert resumed["step"] == 3 and resumed["config"]["amp"] == "auto"
    assert resumed["config"]["reconstruction_weight"] == 100.0 and "critic" not in resumed  # an L1 run has none
