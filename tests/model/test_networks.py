import pytest
import torch

from model.critic import Critic
from model.generator import Generator, count_parameters, pad_to_stride

TINY = dict(base_channels=8, levels=3, blocks_per_level=1)


@pytest.mark.parametrize("height,width", [(32, 32), (24, 40), (8, 64)])
def test_generator_maps_l_to_ab_in_range(height, width):
    generator = Generator(**TINY)
    hints = torch.zeros(2, 3, height, width)
    hints[:, :, 2:5, 3:6] = torch.tensor([0.3, -0.2, 1.0])[:, None, None]
    ab = generator(torch.randn(2, 1, height, width), hints)
    assert ab.shape == (2, 2, height, width)
    assert ab.abs().max() <= 1
    ab.mean().backward()
    assert all(p.grad is not None for p in generator.parameters())


@pytest.mark.parametrize("height,width", [(31, 45), (1, 1), (8, 4000), (250, 333)])
def test_odd_sizes_work_after_padding_to_the_stride(height, width):
    generator = Generator(**TINY).eval()
    x = pad_to_stride(torch.randn(1, 1, height, width), generator.stride)
    assert x.shape[-2] % generator.stride == 0 and x.shape[-1] % generator.stride == 0
    assert x.shape[-2] - height < generator.stride and x.shape[-1] - width < generator.stride
    with torch.no_grad():
        assert generator(x)[..., :height, :width].shape == (1, 2, height, width)


def test_padding_repeats_the_edge():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    padded = pad_to_stride(x, 4)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[..., :2, :3], x)
    assert torch.equal(padded[0, 0, 3], torch.tensor([3.0, 4.0, 5.0, 5.0]))


def test_stride_is_an_int_for_scripting():
    generator = Generator(base_channels=8, levels=4, stem_stride=1)
    assert generator.stride == 8 and isinstance(generator.stride, int)
    assert Generator(base_channels=8, levels=4).stride == 16  # the half-resolution stem, the default


def test_scripted_generator_matches_eager_at_several_sizes():
    generator = Generator(**TINY).eval()
    scripted = torch.jit.script(generator)
    for shape in [(1, 1, 16, 16), (2, 1, 24, 40)]:
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(scripted(x), generator(x), atol=1e-5)


def test_width_and_depth_are_constructor_arguments():
    small, large = Generator(**TINY), Generator(base_channels=16, levels=4, blocks_per_level=2)
    assert count_parameters(large) > 10 * count_parameters(small)
    with pytest.raises(AssertionError, match="at least 2 levels"):
        Generator(levels=1)


def test_critic_scores_each_image_and_has_no_batch_norm():
    critic = Critic(base_channels=8)
    score = critic(torch.randn(3, 1, 64, 48), torch.randn(3, 2, 64, 48))
    assert score.shape == (3,)
    score.sum().backward()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_critic_scores_are_per_sample():
    """With instance norm, one image's score does not depend on the rest of the batch (WGAN-GP needs this)."""
    critic = Critic(base_channels=8).eval()
    l, ab = torch.randn(4, 1, 32, 32), torch.randn(4, 2, 32, 32)
    assert torch.allclose(critic(l, ab)[:1], critic(l[:1], ab[:1]), atol=1e-5)


def test_half_resolution_bins_generator_outputs_ab_at_the_input_size():
    generator = Generator(base_channels=8, levels=3, blocks_per_level=1, stem_stride=2, head="bins").eval()
    assert generator.stride == 8
    x = torch.randn(2, 1, 24, 40)
    with torch.no_grad():
        ab, raw = generator(x), generator(x, raw=True)
    assert ab.shape == (2, 2, 24, 40) and ab.abs().max() <= 1
    assert raw.shape == (2, len(generator.head.centers), 12, 20)  # logits at half resolution
    scripted = torch.jit.script(generator)
    with torch.no_grad():
        assert torch.allclose(scripted(x), ab, atol=1e-6)


def test_bins_head_gives_the_mean_at_temperature_1_and_the_mode_near_0():
    torch.manual_seed(0)
    generator = Generator(base_channels=8, levels=3, blocks_per_level=1, stem_stride=1, head="bins",
                          temperature=1.0).eval()
    x = torch.randn(1, 1, 16, 16)
    centers = generator.head.centers
    with torch.no_grad():
        generator.head.conv.weight.mul_(100)  # untrained logits are nearly tied: spread them
        logits = generator(x, raw=True)
        mean = generator(x)
        generator.head.temperature.fill_(0.001)
        mode = generator(x)
    expected_mean = torch.einsum("bqhw,qc->bchw", logits.softmax(dim=1), centers)
    assert torch.allclose(mean, expected_mean, atol=1e-5)
    top2 = logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 0.05)[:, None].expand_as(mode)  # pixels without a near-tie for the top
    assert clear.float().mean() > 0.5
    assert torch.allclose(mode[clear], centers[logits.argmax(dim=1)].permute(0, 3, 1, 2)[clear], atol=1e-4)
    assert generator.state_dict()["head.temperature"].item() == pytest.approx(0.001)


def test_the_regression_head_keeps_its_checkpoint_names():
    assert {"head.weight", "head.bias"} <= set(Generator(base_channels=8, levels=3).state_dict())
