"""Export a training checkpoint as the TorchScript weights file that the app and the CLI load.

    python -m training.export runs/name/checkpoint.pt weights/colorizer.pt [--raw]

The file is written beside its destination, reloaded the way the Colorizer loads it, compared with the
eager network on a test input, and only then renamed over the destination: a failed or interrupted export
leaves the old file as it was.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from model.generator import Generator, count_parameters
from model.weights import load_network, save_network
from training.config import TrainConfig
from training.files import atomic_write

# Largest difference allowed between the eager network and the reloaded file, on tanh outputs in [-1, 1].
# The file stores float16 weights: about 3e-4 at most (0.03 ab units), so 2e-3 leaves room yet catches a wrong net.
TOLERANCE = 2e-3


def build_generator(checkpoint: dict, use_ema: bool = True) -> tuple[Generator, TrainConfig]:
    config = TrainConfig.from_dict(checkpoint["config"])
    generator = Generator(**config.generator_kwargs())
    generator.load_state_dict(checkpoint["ema" if use_ema else "generator"])
    return generator.eval(), config


def export(checkpoint_path: Path, output: Path, use_ema: bool = True, temperature: float | None = None) -> dict:
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    generator, config = build_generator(checkpoint, use_ema)
    if temperature is not None:
        if config.head != "bins":
            raise ValueError("--temperature applies to a bins head; this checkpoint regresses ab")
        if temperature <= 0:
            raise ValueError(f"--temperature must be positive, got {temperature}")
        generator.head.temperature.fill_(temperature)
    data_facts = checkpoint_path.parent / "data.json"
    info = {
        "working_size": config.scale_size,
        "generator": config.generator_kwargs(),
        "parameters": count_parameters(generator),
        "weights": "ema" if use_ema else "raw",
        **({"temperature": round(float(generator.head.temperature), 4)} if config.head == "bins" else {}),
        "training": {
            "step": checkpoint["step"],
            "seconds": round(checkpoint["seconds"]),
            "data": Path(config.data).name,  # the folder's name only: no paths of the training machine
            **(json.loads(data_facts.read_text()) if data_facts.exists() else {}),
            "config": checkpoint["config"] | {"data": Path(config.data).name, "out": Path(config.out).name},
        },
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def write_and_verify(tmp: Path) -> None:
        save_network(generator, tmp, info)
        reloaded, _ = load_network(tmp)
        probe = torch.randn(2, 1, generator.stride * 5, generator.stride * 3, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            difference = (reloaded(probe) - generator(probe)).abs().max().item()
        if difference > TOLERANCE:
            raise RuntimeError(f"the exported network differs from the checkpoint by {difference:.2e} "
                               f"(more than {TOLERANCE}); {output} was not changed")

    atomic_write(output, write_and_verify)
    return info


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoint.pt")
    parser.add_argument("output", type=Path, help="the weights file to write, e.g. weights/colorizer.pt")
    parser.add_argument("--raw", action="store_true", help="export the live generator, not its moving average")
    parser.add_argument("--temperature", type=float, default=None,
                        help="bins head: annealed-mean temperature (default: the run's; see training.calibrate)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        raise SystemExit(f"no checkpoint at {args.checkpoint}")
    try:
        info = export(args.checkpoint, args.output, use_ema=not args.raw, temperature=args.temperature)
    except ValueError as error:
        raise SystemExit(str(error))
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size:.1f} MB, {info['parameters']:,} parameters, step {info['training']['step']}, "
          f"working size {info['working_size']})")


if __name__ == "__main__":
    main()
