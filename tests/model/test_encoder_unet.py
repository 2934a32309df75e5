"""The generators with an ImageNet-trained encoder (model.encoder_unet) and the encoder itself (model.efficientnet).
The encoder here is random: these tests need no ImageNet weights (tests/training/test_imagenet.py loads them)."""
import pytest
import torch

from model.efficientnet import FEATURE_CHANNELS, EfficientNetLite0, same_pad
from model.encoder_unet import EncoderUNet, FusedResUNet
from model.generator import Generator, load_compatible, pad_to_stride
from model.networks import build_generator, has_imagenet_encoder

SMALL = dict(base_channels=8)


def test_the_encoder_gives_five_feature_maps_at_halving_resolutions():
    features = EfficientNetLite0().eval()(torch.randn(2, 1, 64, 96))
    assert [f.shape[1] for f in features] == list(FEATURE_CHANNELS)
    assert [tuple(f.shape[-2:]) for f in features] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]


def test_same_padding_puts_the_odd_pixel_after_as_tensorflow_does():
    x = torch.ones(1, 1, 4, 4)
    padded = same_pad(x, 3, 2)  # out 2: needs (2 - 1) * 2 + 3 - 4 = 1 pixel, after
    assert padded.shape[-2:] == (5, 5) and padded[0, 0, -1].sum() == 0 and padded[0, 0, 0].sum() == 4
    assert same_pad(torch.ones(1, 1, 5, 5), 5, 1).shape[-2:] == (9, 9)  # stride 1: 2 each side


@pytest.mark.parametrize("height,width", [(64, 64), (32, 96)])
def test_encoder_unet_maps_l_and_hints_to_ab_in_range_and_scripts(height, width):
    network = EncoderUNet(**SMALL).eval()
    l, hints = torch.randn(2, 1, height, width), torch.zeros(2, 3, height, width)
    hints[:, :, 8:14, 8:14] = torch.tensor([0.5, -0.3, 1.0])[:, None, None]
    with torch.no_grad():
        ab = network(l, hints)
        assert ab.shape == (2, 2, height, width) and ab.abs().max() <= 1
        assert network(l, None, True).shape == (2, 2, height // 2, width // 2)  # raw: the head at 1/2
        assert torch.allclose(torch.jit.script(network)(l, hints), ab, atol=1e-5)


def test_encoder_unet_ignores_hints_until_trained_and_then_reads_them():
    network = EncoderUNet(**SMALL).eval()
    l, hints = torch.randn(1, 1, 64, 64), torch.zeros(1, 3, 64, 64)
    hints[:, :, 20:26, 20:26] = torch.tensor([0.6, 0.2, 1.0])[:, None, None]
    with torch.no_grad():
        assert torch.equal(network(l, hints), network(l))  # the hint pyramid's last layers start at zero
        for out in network.hint_stem.outs:
            torch.nn.init.normal_(out.weight, std=0.5)
        assert not torch.allclose(network(l, hints), network(l), atol=1e-3)


def test_the_encoder_keeps_its_batch_norm_statistics_in_training_mode():
    network = EncoderUNet(**SMALL).train()
    assert network.training and not network.imagenet.training
    assert all(not m.training for m in network.imagenet.modules())
    before = network.imagenet.stem.bn.running_mean.clone()
    network(torch.randn(2, 1, 64, 64))
    assert torch.equal(network.imagenet.stem.bn.running_mean, before)
    assert network.decoder[0].up[1].running_mean.abs().sum() > 0  # the decoder's own do move


def test_a_fused_resunet_starts_as_exactly_the_resunet_it_is_made_from():
    torch.manual_seed(0)
    resunet = Generator(base_channels=8, levels=4).eval()
    torch.nn.init.normal_(resunet.hint_stem.weight, std=0.3)
    fused = FusedResUNet(base_channels=8, levels=4).eval()
    missing = load_compatible(fused, resunet.state_dict())
    assert missing and all(name.startswith(("imagenet.", "fuse.")) for name in missing)
    fused.imagenet.load_state_dict(EfficientNetLite0().state_dict())  # as training loads ImageNet's weights
    l = pad_to_stride(torch.randn(1, 1, 50, 70), fused.stride)
    hints = torch.zeros(1, 3, *l.shape[-2:])
    hints[:, :, 10:15, 10:15] = torch.tensor([0.4, 0.1, 1.0])[:, None, None]
    with torch.no_grad():
        assert torch.equal(fused(l, hints), resunet(l, hints))
    # the zero-started 1x1 convolutions get a gradient through the encoder's features: training can move them
    fused(l, hints, True).square().mean().backward()
    assert all(conv.weight.grad.abs().sum() > 0 for conv in fused.fuse)
    with torch.no_grad():
        for conv in fused.fuse:
            torch.nn.init.normal_(conv.weight, std=1.0)
        assert not torch.equal(fused(l, hints, True), resunet(l, hints, True))
        assert torch.allclose(torch.jit.script(fused)(l, hints), fused(l, hints), atol=1e-5)


def test_build_generator_reads_every_spec_and_refuses_an_unknown_one():
    assert type(build_generator({"base_channels": 8, "levels": 3})) is Generator  # formats 1 and 2 carry no name
    encoder_unet = build_generator(EncoderUNet(**SMALL).spec)
    fused = build_generator(FusedResUNet(base_channels=8, levels=3).spec)
    assert type(encoder_unet) is EncoderUNet and type(fused) is FusedResUNet
    assert fused.spec == FusedResUNet(base_channels=8, levels=3).spec and fused.stride == 32
    assert has_imagenet_encoder(encoder_unet) and not has_imagenet_encoder(Generator(base_channels=8, levels=3))
    with pytest.raises(ValueError, match="unknown generator architecture 'vit'"):
        build_generator({"architecture": "vit"})
