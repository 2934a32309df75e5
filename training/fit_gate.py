"""Fit auto's gate (model.restore): which photos restore="auto" takes for old or damaged prints, from the evidence
of the whole photo (model.restore.gate_evidence), written into a damage detector file.

    python -m training.fit_gate --data ../shared/data/train --detector weights/damage.pt [--output FILE]

The evidence is what the detector finds on a photo (how many lines and specks, how long, how sure) and how the
photo looks (old_print_score's measures: softness, fading, grain). Photos of the training split only (the share
the colorizer held out, --val-fraction, is never read: bench.restore scores on it), in three disjoint groups drawn
with a fixed seed: --clean photos as they are and --damaged photos made old twice by training.degrade (as an old
print: fade, blur, grain, scratches, dust, cracks, JPEG; and as damage alone: scratches, dust, cracks), with seeds
of their own (not the ones bench.restore uses), to fit a small network (one hidden layer of --hidden ReLU units,
logistic loss); and --calibration clean photos, to set its threshold so that at most --false-alarms of them are
taken. The gate belongs to the detector it was fitted with (its evidence is that detector's answers), so it is
stored in that detector file's information (info["gate"]), which is rewritten atomically; the network in the file
is not changed. A gate fitted with the detector in bfloat16 (a CPU that computes it natively) serves float32 CPUs
too: the shipped one, with the detector in float32, took 0 of 767 clean held-out photos, 156 and 23 of 200 made old
(bfloat16: 0, 157 and 24; bench.restore's sets).
"""
import argparse
import json
import math
import random
import sys
from pathlib import Path

import numpy as np
import torch

from model import restore as repair
from model.damage import DEFAULT_DETECTOR, INFO_FILE, DamageDetector, DetectorError
from model.files import atomic_write
from model.weights import quiet_jit
from training.data import list_images, split_paths
from training.degrade import DAMAGE_SETS, made_old
from training.progress import Progress
from training.train_damage import gray_photo

SEED = 0  # the draw of the three groups and the network's initial weights


def evidence_of(gray8: np.ndarray, detector: DamageDetector) -> dict:
    """A photo's gate_evidence, measured by model.restore.detect itself."""
    return repair.detect(gray8, detector)[1]["evidence"]


def groups(paths: list[Path], clean: int, damaged_photos: int, calibration: int) -> tuple[list, list, list]:
    """Three disjoint groups of training photos, drawn with SEED: to fit on as they are, to damage, to calibrate."""
    order = sorted(paths)
    random.Random(SEED).shuffle(order)
    needed = clean + damaged_photos + calibration
    if len(order) < needed:
        raise SystemExit(f"fit_gate: {needed} photos asked for, the training split has {len(order)}")
    return order[:clean], order[clean:clean + damaged_photos], order[clean + damaged_photos:needed]


def collect(fit_clean, to_damage, calibration, detector, quiet=False) -> dict:
    """Evidence of every photo -> {"clean": [...], "old print": [...], "damage only": [...], "calibration": [...]}."""
    progress = Progress(len(fit_clean) + 2 * len(to_damage) + len(calibration), "photo", enabled=not quiet)
    found = {"clean": [], **{name: [] for name in DAMAGE_SETS}, "calibration": []}
    for group, paths in (("clean", fit_clean), ("calibration", calibration)):
        for path in paths:
            found[group].append(evidence_of(gray_photo(path), detector))
            progress.update()
    for path in to_damage:
        gray8 = gray_photo(path)
        for name, kinds in DAMAGE_SETS.items():
            # made old with seeds of its own (not the ones bench.restore's photo names give)
            old, _ = made_old(gray8, f"fit_gate {' '.join(kinds)} {path.name}", kinds)
            found[name].append(evidence_of(old, detector))
            progress.update()
    return found


def fit(x: np.ndarray, y: np.ndarray, hidden: int, steps: int = 1000, weight_decay: float = 1e-2) -> dict:
    """Measures (N, F) and labels (N,) 1 damaged -> the gate's network (standardized inputs, one hidden layer)."""
    torch.manual_seed(SEED)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = torch.tensor((x - mean) / scale, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    optimizer = torch.optim.AdamW(net.parameters(), 1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(z)[:, 0], target)
        loss.backward()
        optimizer.step()
    first, last = net[0], net[2]
    return {"mean": mean.tolist(), "scale": scale.tolist(),
            "hidden_weight": first.weight.detach().double().tolist(),
            "hidden_bias": first.bias.detach().double().tolist(),
            "out_weight": last.weight.detach()[0].double().tolist(), "out_bias": float(last.bias.detach()[0]),
            "threshold": 0.0}


def threshold_for(scores: list[float], false_alarms: float) -> float:
    """The lowest threshold with at most false_alarms of the scores above it."""
    ordered = sorted(scores)
    allowed = math.floor(false_alarms * len(ordered))
    return ordered[len(ordered) - allowed - 1]


def write_gate(detector_path: Path, output: Path, gate: dict) -> None:
    """The detector file at detector_path, its information given the gate, written atomically to output."""
    files = {INFO_FILE: ""}
    with quiet_jit():
        network = torch.jit.load(str(detector_path), map_location="cpu", _extra_files=files)
    info = {**json.loads(files[INFO_FILE]), "gate": gate}
    with quiet_jit():
        atomic_write(output, lambda path: torch.jit.save(network, str(path),
                                                          _extra_files={INFO_FILE: json.dumps(info, indent=2)}))


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fit_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the training photos (folder, searched recursively)")
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="the damage detector file")
    parser.add_argument("--output", type=Path, help="where the detector with its gate goes (default: --detector)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="the colorizer's held-out share, never read")
    parser.add_argument("--clean", type=int, default=3000, help="clean photos to fit on")
    parser.add_argument("--damaged", type=int, default=1000, help="photos to fit on made old, each in both ways")
    parser.add_argument("--calibration", type=int, default=5000, help="clean photos the threshold is set on")
    parser.add_argument("--false-alarms", type=float, default=0.0004, help="share of calibration photos taken, at "
                        "most (default: 2 in 5,000)")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units of the gate's network")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    try:
        detector = DamageDetector.load(args.detector)
    except DetectorError as error:
        raise SystemExit(f"fit_gate: {error}") from None
    paths = split_paths(list_images(args.data), args.val_fraction)[0]
    fit_clean, to_damage, calibration = groups(paths, args.clean, args.damaged, args.calibration)
    found = collect(fit_clean, to_damage, calibration, detector, args.quiet)
    names = list(found["clean"][0])

    def rows(group: str) -> np.ndarray:
        return np.array([[evidence[name] for name in names] for evidence in found[group]], np.float64)

    x = np.concatenate([rows("clean")] + [rows(name) for name in DAMAGE_SETS])
    y = np.concatenate([np.zeros(len(fit_clean))] + [np.ones(len(to_damage))] * len(DAMAGE_SETS))
    gate = {"names": names, **fit(x, y, args.hidden)}

    def scores(group: str) -> list[float]:
        return [repair.gate_score(gate, evidence) for evidence in found[group]]

    gate["threshold"] = threshold_for(scores("calibration"), args.false_alarms)
    taken = {group: float(np.mean([score > 0 for score in scores(group)])) for group in found}
    gate["fitted"] = {"photos": {"clean": len(fit_clean), "damaged": len(to_damage), "calibration": len(calibration)},
                      "taken": {group: round(share, 4) for group, share in taken.items()},
                      "detector_precision": detector.precision}
    write_gate(args.detector, args.output or args.detector, gate)
    print(f"gate written to {args.output or args.detector}; taken: " + ", ".join(
        f"{group} {share:.1%}" for group, share in taken.items()) + " (calibration: photos the network was not "
        "fitted on; the others it was)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
