import copy

import numpy as np
import pytest
import torch

from model.critic import Critic
from model.generator import Generator
from tests.conftest import TINY, synthetic_photo
from training.config import TrainConfig
from training.data import to_model_inputs
from training.recipes import Adversarial, Bins, Regression, recipe_class

CPU = torch.device("cpu")
RECIPES = {  # config overrides -> (recipe class, the loss it minimizes)
    "l1": ({}, Regression, "l1"),
    "log_l1": ({"loss": "log_l1"}, Regression, "log_l1"),
    "adversarial": ({"adversarial": True}, Adversarial, "l1"),
    "bins": ({"head": "bins"}, Bins, "bins_loss"),
}


def tiny_config(**overrides) -> TrainConfig:
    settings = dict(image_size=32, scale_size=48, critic_channels=8, lr=3e-3, warmup_steps=0, **TINY)
    return TrainConfig(**{**settings, **overrides})


def fixed_batch() -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(4, 3, 32, 32) uint8 RGB of synthetic photos, and the (l, ab, hints) a recipe trains on: no hints."""
    rgb = torch.stack([torch.from_numpy(np.array(synthetic_photo(i, (32, 32)))).permute(2, 0, 1) for i in range(4)])
    l, ab = to_model_inputs(rgb)
    return rgb, (l, ab, torch.zeros(4, 3, 32, 32))


def make(config: TrainConfig):
    torch.manual_seed(0)
    return recipe_class(config)(config, Generator(**config.spec()), CPU)


def test_the_config_chooses_the_recipe_and_refuses_what_none_trains():
    for overrides, kind, _ in RECIPES.values():
        assert recipe_class(tiny_config(**overrides)) is kind
    with pytest.raises(ValueError, match="--adversarial applies to the ab head"):
        recipe_class(tiny_config(head="bins", adversarial=True))
    with pytest.raises(ValueError, match="--loss applies to the ab head"):
        tiny_config(head="bins", loss="log_l1").validate()


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_lowers_its_loss_and_moves_the_weights(name):
    overrides, _, loss = RECIPES[name]
    recipe = make(tiny_config(**overrides))
    rgb, batch = fixed_batch()
    recipe.prepare([rgb])  # the bins head counts its colour prior here; the others have nothing to prepare
    before = [copy.deepcopy(net.state_dict()) for net in recipe.networks()]
    values = [recipe.step(step, lambda: batch)[loss] for step in range(8)]
    assert np.mean(values[-2:]) < np.mean(values[:2]), values
    for net, old in zip(recipe.networks(), before):  # the critic too, for the adversarial recipe
        assert any(not torch.equal(value, old[key]) for key, value in net.state_dict().items())


def test_the_adversarial_recipe_warms_up_then_trains_its_critic():
    recipe = make(tiny_config(**{**RECIPES["adversarial"][0], "warmup_steps": 2, "critic_steps": 2}))
    _, batch = fixed_batch()
    drawn = []

    def counting():
        drawn.append(1)
        return batch
    warm = recipe.step(0, counting)
    assert "gp" not in warm and "adversarial" not in warm and len(drawn) == 1
    critic_before = copy.deepcopy(recipe.critic.state_dict())
    logs = recipe.step(2, counting)
    assert {"critic", "wasserstein", "gp", "adversarial", "l1"} <= set(logs) and len(drawn) == 1 + 3  # 2 critic, 1
    assert any(not torch.equal(v, recipe.critic.state_dict()[k]) for k, v in critic_before.items())


@pytest.mark.parametrize("name", RECIPES)
def test_a_recipe_resumed_from_its_state_takes_the_same_next_step(name):
    """What a checkpoint keeps (the generator, and the recipe's state_dict) is all a resumed run needs."""
    overrides, _, loss = RECIPES[name]
    config = tiny_config(**overrides)
    rgb, batch = fixed_batch()
    recipe = make(config)
    recipe.prepare([rgb])
    for step in range(2):
        recipe.step(step, lambda: batch)
    saved = copy.deepcopy({"generator": recipe.generator.state_dict(), **recipe.state_dict()})
    resumed = make(config)  # the same initial weights: only what is loaded can make them agree
    resumed.generator.load_state_dict(saved["generator"])
    resumed.load_state_dict(saved)
    resumed.prepare([torch.zeros_like(rgb)])  # a resumed bins run keeps its prior: this gray batch changes nothing
    torch.manual_seed(1)  # the gradient penalty's random mixing
    expected = recipe.step(2, lambda: batch)
    torch.manual_seed(1)
    assert resumed.step(2, lambda: batch) == pytest.approx(expected, rel=1e-5)
    for net, other in zip(recipe.networks(), resumed.networks()):
        for key, value in net.state_dict().items():
            assert torch.allclose(value.float(), other.state_dict()[key].float(), atol=1e-6), key


def test_checkpoints_hold_what_each_recipe_needs_and_old_ones_still_load():
    regression = make(tiny_config())
    assert set(regression.state_dict()) == {"opt_g"}
    assert set(make(tiny_config(adversarial=True)).state_dict()) == {"opt_g", "critic", "opt_c"}
    bins = make(tiny_config(head="bins"))
    bins.prepare([fixed_batch()[0]])
    assert set(bins.state_dict()) == {"opt_g", "class_weights"} and bins.class_weights.shape == (262,)
    # Checkpoints written before the recipes held a critic and its optimizer whatever the run trained.
    critic = Critic(base_channels=8)
    old = {"opt_g": regression.opt_g.state_dict(), "critic": critic.state_dict(),
           "opt_c": torch.optim.Adam(critic.parameters()).state_dict()}
    regression.load_state_dict(old)  # the critic of an L1 run is not needed
    adversarial = make(tiny_config(adversarial=True))
    adversarial.load_state_dict(old)
    assert torch.equal(adversarial.critic.state_dict()["net.0.weight"], critic.state_dict()["net.0.weight"])
    adversarial.load_state_dict({"opt_g": old["opt_g"]})  # an L1 run continued with a critic: a fresh one


def test_autocast_follows_the_trainers_choice():
    config = tiny_config()
    l = torch.randn(1, 1, 32, 32)
    off = recipe_class(config)(config, Generator(**config.spec()), CPU, amp_dtype=None)
    with off.autocast():
        assert off.generator.stem(l).dtype == torch.float32
    on = recipe_class(config)(config, Generator(**config.spec()), CPU, amp_dtype=torch.bfloat16)
    with on.autocast():
        assert on.generator.stem(l).dtype == torch.bfloat16
