"""Export a training checkpoint as the TorchScript weights file that the app and the CLI load.

    python -m training.export runs/name/checkpoint.pt runs/name/colorizer.pt [--raw] [--working-size N]
                              [--chroma-gain S] [--repaired-gain S]      # see training.calibrate
                              [--points-edge-scale E]                    # see model.points, training.evaluate
                              [--temperature T --prior-correction A]     # a bins head's operating point
                              [--force]                                  # may replace the shipped model

The file is written beside its destination, reloaded the way the Colorizer loads it, compared with the
eager network on a test input, and only then renamed over the destination: a failed or interrupted export
leaves the old file as it was. The shipped model (model.weights.DEFAULT_WEIGHTS, weights/colorizer.pt in a
checkout) is replaced only with --force. The file records the run's settings without any path of the machine
that trained it: folders and files by name, the --init file also by hash.
"""
import argparse
import copy
import json
import time
from pathlib import Path

import torch

from model.files import atomic_write
from model.generator import BinsHead, count_parameters
from model.networks import build_generator as build_network
from model.points import MAX_EDGE_SCALE, valid_edge_scale
from model.weights import (DEFAULT_WEIGHTS, MAX_CHROMA_GAIN, MAX_SIZE, MIN_SIZE, load_network, save_network,
                           valid_chroma_gain)
from training.config import TrainConfig

# Largest difference allowed between the eager network with its weights rounded to float16 (as the file stores
# them) and the reloaded file, on tanh outputs in [-1, 1]: freezing folds batch norm into the convolutions, which
# moves outputs by about 1e-4; 2e-3 leaves room yet catches a wrong net.
TOLERANCE = 2e-3
PATH_FIELDS = ("data", "out", "init")  # the config's paths: a weights file keeps their last part only


class ShippedWeights(ValueError):
    """The destination is the shipped model and --force was not given."""


def is_shipped(path: Path) -> bool:
    """Whether path is the shipped weights file (model.weights.DEFAULT_WEIGHTS), under any name or link."""
    path, shipped = Path(path), Path(DEFAULT_WEIGHTS)
    if path.resolve() == shipped.resolve():
        return True
    return path.exists() and shipped.exists() and path.samefile(shipped)


def without_paths(config: dict) -> dict:
    """A run's config with its paths cut to their last part: /home/someone/photos -> photos."""
    return config | {name: Path(config[name]).name for name in PATH_FIELDS if config.get(name)}


def build_generator(checkpoint: dict, use_ema: bool = True) -> tuple[torch.nn.Module, TrainConfig]:
    """A run's checkpoint -> (its generator, rebuilt from the architecture the checkpoint stores; the run's config).
    Raises ValueError for a checkpoint that does not say its architecture."""
    if "spec" not in checkpoint:
        raise ValueError("the checkpoint does not store its architecture (no 'spec'): it was written by an older "
                         "version of training.train; start a run from it with --init instead")
    config = TrainConfig.from_dict(checkpoint["config"])
    generator = build_network(checkpoint["spec"])
    generator.load_state_dict(checkpoint["ema" if use_ema else "generator"])
    return generator.eval(), config


@torch.no_grad()
def set_operating_point(generator: torch.nn.Module, checkpoint: dict, temperature: float | None = None,
                        prior_correction: float = 0.0) -> None:
    """Bins head: the temperature of the annealed mean, and how much of the training's rebalancing to undo.

    Training weighs each pixel's loss by its colour's rarity, which tilts the learnt distribution towards rare
    colours by about the weight: p_trained(q) ~ w(q) p(q). Subtracting prior_correction * log w(q) from the
    logits (folded into the head's bias) undoes that tilt: 1 gives the untilted distribution, whose mean has the
    best PSNR; 0 keeps the vivid, tilted one. Raises ValueError for a regression head or bad values.
    """
    if temperature is None and not prior_correction:
        return
    if not isinstance(generator.head, BinsHead):
        raise ValueError("--temperature and --prior-correction apply to a bins head; this checkpoint regresses ab")
    if temperature is not None:
        if temperature <= 0:
            raise ValueError(f"--temperature must be positive, got {temperature}")
        generator.head.temperature.fill_(temperature)
    if prior_correction:
        if not 0 <= prior_correction <= 1:
            raise ValueError(f"--prior-correction must be between 0 and 1, got {prior_correction}")
        generator.head.conv.bias -= prior_correction * checkpoint["class_weights"].log()


def export(checkpoint_path: Path, output: Path, use_ema: bool = True, temperature: float | None = None,
           prior_correction: float = 0.0, working_size: int | None = None, chroma_gain: float = 1.0,
           repaired_gain: float | None = None, points_edge_scale: float | None = None, force: bool = False) -> dict:
    """Writes the weights file; returns its info. repaired_gain: the chroma gain of photos the repair changed
    (None: chroma_gain, and not recorded). points_edge_scale: how much of the photo's lightness a colour point's
    region may cross (model.points; None: model.points.EDGE_SCALE, and not recorded). Raises ValueError for bad
    settings, ShippedWeights (a ValueError) when output is the shipped model and not force."""
    if not force and is_shipped(output):
        raise ShippedWeights(f"{output} is the shipped model; write your model to another file (such as "
                             f"{Path(checkpoint_path).parent / 'colorizer.pt'}) and use it with --weights or "
                             f"COLORIZER_WEIGHTS, or add --force to replace the shipped one")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    generator, config = build_generator(checkpoint, use_ema)
    working_size = working_size or config.scale_size
    if not MIN_SIZE <= working_size <= MAX_SIZE:
        raise ValueError(f"--working-size must be between {MIN_SIZE} and {MAX_SIZE}, got {working_size}")
    if not valid_chroma_gain(chroma_gain):
        raise ValueError(f"--chroma-gain must be above 0 and at most {MAX_CHROMA_GAIN:g}, got {chroma_gain}")
    if repaired_gain is not None and not valid_chroma_gain(repaired_gain):
        raise ValueError(f"--repaired-gain must be above 0 and at most {MAX_CHROMA_GAIN:g}, got {repaired_gain}")
    if points_edge_scale is not None and not valid_edge_scale(points_edge_scale):
        raise ValueError(f"--points-edge-scale must be above 0 and at most {MAX_EDGE_SCALE:g}, "
                         f"got {points_edge_scale}")
    set_operating_point(generator, checkpoint, temperature, prior_correction)
    data_facts = checkpoint_path.parent / "data.json"
    info = {
        "working_size": working_size,
        "chroma_gain": chroma_gain,
        **({"repaired_chroma_gain": repaired_gain} if repaired_gain is not None else {}),
        **({"points_edge_scale": points_edge_scale} if points_edge_scale is not None else {}),
        "parameters": count_parameters(generator),
        "weights": "ema" if use_ema else "raw",
        **({"temperature": round(float(generator.head.temperature), 4), "prior_correction": prior_correction}
           if config.head == "bins" else {}),
        "training": {
            "step": checkpoint["step"],
            "seconds": round(checkpoint["seconds"]),
            "data": Path(config.data).name,  # the folder's name only: no paths of the training machine
            **(json.loads(data_facts.read_text()) if data_facts.exists() else {}),  # counts; --init's name and hash
            "config": without_paths(checkpoint["config"]),
        },
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    # What the file should compute: the checkpoint's weights rounded to float16, as the file stores them. On this
    # probe (noise, half of it hinted) the rounding alone moves an ImageNet encoder's answer by up to about 7e-3;
    # against the rounded weights the file must agree to freezing's own error.
    stored = copy.deepcopy(generator).half().float()

    def write_and_verify(tmp: Path) -> None:
        save_network(generator, tmp, info)
        reloaded, _ = load_network(tmp)
        seed = torch.Generator().manual_seed(0)
        probe = torch.randn(2, 1, generator.stride * 5, generator.stride * 3, generator=seed)
        hints = torch.rand(2, 3, generator.stride * 5, generator.stride * 3, generator=seed).round()  # half of it on
        with torch.inference_mode():
            difference = max((reloaded(probe) - stored(probe)).abs().max().item(),
                             (reloaded(probe, hints) - stored(probe, hints)).abs().max().item())
        if difference > TOLERANCE:
            raise RuntimeError(f"the exported network differs from the checkpoint by {difference:.2e} "
                               f"(more than {TOLERANCE}); {output} was not changed")

    atomic_write(output, write_and_verify)
    return info


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoint.pt")
    parser.add_argument("output", type=Path, help="the weights file to write, such as runs/name/colorizer.pt")
    parser.add_argument("--raw", action="store_true", help="export the live generator, not its moving average")
    parser.add_argument("--temperature", type=float, default=None,
                        help="bins head: annealed-mean temperature (default: the run's; see training.calibrate)")
    parser.add_argument("--working-size", type=int, default=None,
                        help="the short side the Colorizer gives the network by default (default: the run's "
                             "--scale-size); training.evaluate --size measures the choices")
    parser.add_argument("--chroma-gain", type=float, default=1.0,
                        help="how many times further from each picture's mean colour the Colorizer moves the "
                             "predicted colours (default 1: as predicted; see training.calibrate)")
    parser.add_argument("--repaired-gain", type=float, default=None,
                        help="the chroma gain of photos the repair changed (old prints; default: --chroma-gain; "
                             "see training.calibrate --old-prints)")
    parser.add_argument("--points-edge-scale", type=float, default=None,
                        help="how much of the photo's lightness a colour point's region may cross: larger spreads "
                             "a point further (default: model.points.EDGE_SCALE, 4; for a network trained with "
                             "--recolour-points; training.evaluate --points-edge-scale measures the choices)")
    parser.add_argument("--prior-correction", type=float, default=0.0,
                        help="bins head: share of the training's colour rebalancing to undo, 0 to 1 (default 0; "
                             "see training.calibrate)")
    parser.add_argument("--force", action="store_true",
                        help="replace the shipped model (weights/colorizer.pt) if OUTPUT is it; refused without")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        raise SystemExit(f"no checkpoint at {args.checkpoint}")
    try:
        info = export(args.checkpoint, args.output, use_ema=not args.raw, temperature=args.temperature,
                      prior_correction=args.prior_correction, working_size=args.working_size,
                      chroma_gain=args.chroma_gain, repaired_gain=args.repaired_gain,
                      points_edge_scale=args.points_edge_scale, force=args.force)
    except ValueError as error:
        raise SystemExit(str(error))
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size:.1f} MB, {info['parameters']:,} parameters, step {info['training']['step']}, "
          f"working size {info['working_size']}, chroma gain {info['chroma_gain']:g}"
          + (f", repaired {args.repaired_gain:g}" if args.repaired_gain is not None else "")
          + (f", points' edge scale {args.points_edge_scale:g}" if args.points_edge_scale is not None else "") + ")")
    run_config = args.checkpoint.parent / "config.json"  # the run's own, with the photo folder's path
    photos = (json.loads(run_config.read_text()).get("data") if run_config.exists() else None) or "PHOTOS"
    print(f"next, measure it on the photos the run held out (or on photos it never saw):\n"
          f"  python -m training.evaluate --images {photos} --split validation --weights {args.output} "
          f"--hints 0,1,2,5,10,20")


if __name__ == "__main__":
    main()
