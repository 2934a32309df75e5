"""Train the damage detector (model.damage) on crops of photos made old by training.degrade.

    python -m training.train_damage --data ../shared/data/train --out runs/damage [--steps 6000] [--resume]
    python -m training.train_damage --data ../shared/data/train --out runs/damage --export weights/damage.pt
    python -m training.train_damage --data ../shared/data/train --mine runs/negatives.json [--mine-detector FILE]
    python -m training.train_damage ... --init runs/damage/checkpoint.pt --negatives runs/negatives.json
                                        --negative-chance 0.5

Each crop: a photo of the training split (the share held out is the colorizer's, --val-fraction, so the photos
bench.restore scores on are never seen), scaled by a random factor (damage from 1 to about 6 px wide, as the
detection copy of a scan shows it), sometimes with printed text added (detail that is NOT damage: letters are
thin, dark and high-contrast like a scratch), then made old with some of training.degrade's other kinds (each
with the chance --look-chance) and, most of the time, at least one of scratches, dust and cracks. degrade's mask of
the pixels the damage moved is the label. A share of the crops (--clean-chance) has no damage at all, so that the
detector learns to answer "nothing" too.

Hard negatives: `--mine` asks a detector (the shipped one by default) for what it would fill on clean photos of the
training split (every such pixel a false alarm: tile joints, window bars, railings, seams, the edges of sharp
things) and writes where; a run given that file (`--negatives`) centres a share of its crops (--negative-chance)
on those spots, damage added as to any crop, so that the detector learns to tell them from scratches.

The run folder holds checkpoint.pt (a plain dict: net, optimizer, step, config; written atomically), log.txt-like
progress on stderr, and --export writes the TorchScript detector (atomically) with its operating point: "sure", the
probability at which what model.restore fills best meets GOALS (precision and recall) on both of bench.restore's
kinds of damage, old prints and sharp photos with scratches, dust and cracks alone, measured on photos of the
training split made old with seeds of their own (never the held-out ones). Each kind is held to the goals: pooled,
the old prints (easy: soft, so few sharp edges to mistake) would hide how precise the detector is on sharp photos.
"""
import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from model.color import gray8_of_rgb8
from model.damage import WIDTHS, DamageNet, save_detector
from model.files import atomic_write
from model.generator import count_parameters
from model.weights import default_precision
from training.data import list_images, open_rgb, split_paths
from training.degrade import (_SHIFT, DAMAGE_KINDS, DAMAGE_SETS, KINDS, REFERENCE_SIDE, _as_float, _blend,
                              _fixed, _to_uint8, degrade, made_old, visible_change)
from training.progress import Progress

CHECKPOINT = "checkpoint.pt"
GOALS = (0.85, 0.75)  # the operating point meets these precision and recall (within TOLERANCE px) on each kind
TOLERANCE = 2
CLEAN_PHOTOS = 600  # clean training-split photos the detector's false alarms are counted on ...
CLEAN_SHARE = 0.002  # ... and the count that this share of them reaches (1 in 500)
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_ITALIC | cv2.FONT_HERSHEY_SIMPLEX)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,-&"


@dataclass
class DamageConfig:
    data: str = ""  # folder of colour photos (searched recursively)
    out: str = ""  # run folder
    steps: int = 6000  # optimizer steps
    batch_size: int = 16
    crop: int = 128  # side of a training crop, px
    max_zoom: float = 3.0  # photos are scaled by a factor from 1 (or what the crop needs) to this
    text_chance: float = 0.35  # share of crops with printed text added before the damage
    clean_chance: float = 0.15  # share of crops with no scratches, dust or cracks
    look_chance: float = 0.5  # chance of each of degrade's other kinds (fade, blur, grain, JPEG...) in a crop: lower
    # it for more crops that are sharp photos with damage on them, whose hard edges must not be taken for scratches
    lr: float = 2e-3  # AdamW, cosine to zero after a 200-step warm-up
    weight_decay: float = 1e-4
    pos_weight: float = 3.0  # a damage pixel weighs this many clean ones in the loss (damage is ~2% of pixels)
    val_fraction: float = 0.05  # the colorizer's held-out share: those photos are never used here
    seed: int = 0
    workers: int = 1  # data loader processes
    checkpoint_every: int = 250
    widths: str = ",".join(map(str, WIDTHS))  # the net's channels at full resolution and at each halving
    init: str = ""  # start from this run's checkpoint.pt (the net only; a fine-tune with other settings)
    negatives: str = ""  # a file of hard negatives (--mine writes one): real detail a detector took for damage
    negative_chance: float = 0.0  # share of crops centred on one of them (damage is added as to any crop)
    straight_chance: float = 0.0  # share of damaged crops with a scratch along the columns or rows as well (a film
    # runs through the projector's gate: its scratches are vertical), crisp or antialiased: the hard negatives are
    # mostly such lines (frames, bars, tile joints), which would teach the detector that no scratch is straight

    def net_widths(self) -> tuple[int, ...]:
        """The widths as numbers; ValueError when they are not two or more positive channel counts."""
        try:
            widths = tuple(int(part) for part in self.widths.split(","))
        except ValueError:
            widths = ()
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"--widths must be two or more channel counts like 12,24,48,64, got {self.widths!r}")
        return widths


def add_text(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1 to 4 lines of printed text (signs, captions, labels), dark on light or light on dark, at a size from a
    few pixels to a fifth of the photo."""
    image = gray.copy()
    height, width = image.shape
    for _ in range(int(rng.integers(1, 5))):
        text = "".join(rng.choice(list(_LETTERS), int(rng.integers(3, 16))))
        font = int(rng.choice(_FONTS))
        scale = float(np.exp(rng.uniform(np.log(0.25), np.log(2.0)))) * min(height, width) / 200
        thickness = max(1, round(scale * rng.uniform(1, 2.5)))
        around = int(np.median(image))
        value = int(rng.uniform(0, 60)) if around > 110 else int(rng.uniform(180, 255))
        origin = (int(rng.integers(-width // 4, width)), int(rng.integers(0, height + height // 4)))
        cv2.putText(image, text, origin, font, scale, value, thickness, cv2.LINE_AA if rng.random() < 0.7 else 8)
    if rng.random() < 0.4:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.8))
    return image


def gray_photo(path: Path) -> np.ndarray:
    rgb = np.asarray(open_rgb(path))
    return gray8_of_rgb8(*(np.ascontiguousarray(rgb[..., c]) for c in range(3)))


def damaged_crop(gray: np.ndarray, rng: np.random.Generator, config: DamageConfig,
                 focus: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A photo's gray -> ((crop, crop) uint8 made old, (crop, crop) bool damage mask). focus: a point (y, x) of the
    photo the crop is to hold (within a quarter crop of its centre), else the crop is anywhere."""
    height, width = gray.shape
    low = max(1.0, config.crop / min(height, width))
    zoom = math.exp(rng.uniform(math.log(low), math.log(max(low, config.max_zoom))))
    size = (max(config.crop, round(width * zoom)), max(config.crop, round(height * zoom)))
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC if zoom > 1 else cv2.INTER_AREA)
    if rng.random() < config.text_chance:
        gray = add_text(gray, rng)
    kinds = [kind for kind in KINDS if kind not in DAMAGE_KINDS and rng.random() < config.look_chance]
    if rng.random() >= config.clean_chance:
        damage = [kind for kind in DAMAGE_KINDS if rng.random() < 0.5] or [str(rng.choice(DAMAGE_KINDS))]
        kinds += damage
    degraded, mask = degrade(gray, rng, chance=1, kinds=tuple(kinds))
    top = int(rng.integers(0, size[1] - config.crop + 1))
    left = int(rng.integers(0, size[0] - config.crop + 1))
    if focus is not None:
        jitter = rng.uniform(-config.crop / 4, config.crop / 4, 2)
        y, x = (focus[i] * size[1 - i] / gray_size + jitter[i] - config.crop / 2
                for i, gray_size in enumerate((height, width)))
        top = int(np.clip(round(y), 0, size[1] - config.crop))
        left = int(np.clip(round(x), 0, size[0] - config.crop))
    window = (slice(top, top + config.crop), slice(left, left + config.crop))
    if config.straight_chance and any(kind in DAMAGE_KINDS for kind in kinds) and rng.random() < config.straight_chance:
        return straight_scratch(degraded[window], mask[window], rng)
    return degraded[window], mask[window]


def straight_scratch(gray8: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A scratch within 2 degrees of vertical (most of them) or horizontal, over half to all of the crop, bright or
    dark, crisp or antialiased, drawn on a made-old crop, its pixels added to the mask."""
    height, width = gray8.shape
    scale = max(min(height, width), 1) / REFERENCE_SIDE
    vertical = rng.random() < 0.7
    angle = math.radians((90.0 if vertical else 0.0) + rng.uniform(-2, 2))
    along = height if vertical else width
    length = rng.uniform(0.5, 1.2) * along
    start = (rng.uniform(0, width), rng.uniform(-0.2, 0.5) * height) if vertical else \
        (rng.uniform(-0.2, 0.5) * width, rng.uniform(0, height))
    end = (start[0] + length * math.cos(angle), start[1] + length * math.sin(angle))
    canvas = np.zeros(gray8.shape, np.uint8)
    cv2.line(canvas, _fixed(start), _fixed(end), 255, max(1, round(rng.uniform(1, 3) * scale)),
             cv2.LINE_AA if rng.random() < 0.5 else cv2.LINE_8, _SHIFT)
    scratched = _to_uint8(_blend(_as_float(gray8), canvas.astype(np.float32) / 255, rng))
    return scratched, mask | visible_change(scratched, gray8)


class DamagedCrops(Dataset):
    """Item i: a crop made old with a generator seeded by (seed, i), so a resumed run sees what it would have; with
    negatives (hard_negatives' spots), a share config.negative_chance of the crops is centred on one of them."""

    def __init__(self, paths: list[Path], config: DamageConfig, length: int, start: int = 0,
                 negatives: list[tuple[Path, float, float]] = ()):
        self.paths, self.config, self.length, self.start = paths, config, length, start
        self.negatives = list(negatives)

    def __len__(self) -> int:
        return self.length - self.start

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.config.seed, self.start + index))
        if self.negatives and rng.random() < self.config.negative_chance:
            path, y, x = self.negatives[int(rng.integers(len(self.negatives)))]
            crop, mask = damaged_crop(gray_photo(path), rng, self.config, focus=(y, x))
        else:
            gray = gray_photo(self.paths[int(rng.integers(len(self.paths)))])
            crop, mask = damaged_crop(gray, rng, self.config)
        return torch.from_numpy(crop)[None].float().div_(255), torch.from_numpy(mask)[None].float()


# ---- hard negatives: real detail a detector takes for damage ----

MAX_SPOTS = 20  # per photo


def hard_negatives(detector, paths: list[Path]) -> list[tuple[Path, float, float]]:
    """(photo, y, x) of each defect model.restore would fill on these clean photos (every one a false alarm): the
    tile joints, window bars, edges and wires the detector takes for scratches. At most MAX_SPOTS a photo, the
    largest first."""
    from model.restore import detection_copy, find_defects
    spots = []
    for path in paths:
        small, scale = detection_copy(gray_photo(path))
        mask = find_defects(small, detector)[0]
        _, _, stats, centres = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
        for index in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:MAX_SPOTS] + 1:
            spots.append((path, float(centres[index, 1] / scale), float(centres[index, 0] / scale)))
    return spots


def write_negatives(spots: list[tuple[Path, float, float]], data: Path, destination: Path, about: dict) -> None:
    rows = [[path.relative_to(data).as_posix(), round(y, 1), round(x, 1)] for path, y, x in spots]
    text = json.dumps({**about, "spots": rows})
    atomic_write(destination, lambda tmp: tmp.write_text(text))


def read_negatives(source: Path, data: Path, allowed: set[Path]) -> list[tuple[Path, float, float]]:
    """The spots of a --mine file whose photos are among `allowed` (the training split: a held-out photo is never
    trained on, whatever the file says)."""
    try:
        rows = json.loads(source.read_text())["spots"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"error: {source} is not a file of hard negatives written by --mine ({error})") from None
    spots = [(data / name, float(y), float(x)) for name, y, x in rows]
    return [spot for spot in spots if spot[0] in allowed]


def learning_rate(step: int, config: DamageConfig) -> float:
    if step < 200:
        return config.lr * (step + 1) / 200
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - 200) / max(1, config.steps - 200))))


def train(config: DamageConfig, resume: bool) -> Path:
    run = Path(config.out)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    net = DamageNet(config.net_widths())
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step = 0
    if config.init and not (resume and (run / CHECKPOINT).exists()):
        net.load_state_dict(torch.load(config.init, map_location="cpu", weights_only=False)["net"])
        print(f"started from {config.init}", flush=True)
    if resume and (run / CHECKPOINT).exists():
        state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    paths = split_paths(list_images(Path(config.data)), config.val_fraction)[0]
    print(f"{len(paths)} training photos; detector of {count_parameters(net):,} parameters; "
          f"{default_precision()} on the CPU", flush=True)
    negatives = read_negatives(Path(config.negatives), Path(config.data), set(paths)) if config.negatives else []
    if negatives:
        print(f"{len(negatives)} hard negatives from {config.negatives}, in {config.negative_chance:.0%} of the "
              "crops", flush=True)
    crops = DamagedCrops(paths, config, config.steps * config.batch_size, start=step * config.batch_size,
                         negatives=negatives)
    loader = DataLoader(crops, batch_size=config.batch_size, num_workers=config.workers,
                        persistent_workers=config.workers > 0)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(config.pos_weight))
    dtype = torch.bfloat16 if default_precision() == "bfloat16" else None
    progress = Progress(config.steps, "step", done=step)
    net.train()
    losses = []

    def save() -> None:
        state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "config": dataclasses.asdict(config)}
        atomic_write(run / CHECKPOINT, lambda tmp: torch.save(state, tmp))

    for gray, mask in loader:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = net(gray)
        loss = loss_fn(logits.float(), mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % 50 == 0 or step == config.steps:
            progress.advance(step)
            progress.say(f"step {step}/{config.steps} loss {np.mean(losses):.4f} lr {learning_rate(step, config):.2e}"
                         f"; {progress.pace()}")
            losses = []
        if step % config.checkpoint_every == 0 or step == config.steps:
            save()
    return run / CHECKPOINT


# ---- the operating point, and export ----

def near(a: np.ndarray, b: np.ndarray, tolerance: int = TOLERANCE) -> np.ndarray:
    """Pixels of a within tolerance px of a pixel of b."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    return a & cv2.dilate(b.astype(np.uint8), disk).astype(bool)


class _Eager:
    """The net as model.restore calls a detector: (H, W) uint8 -> (H, W) probability, with its operating point."""

    def __init__(self, net: DamageNet, sure: float):
        self.net, self.sure = net.eval(), sure

    @torch.no_grad()
    def __call__(self, gray8: np.ndarray) -> np.ndarray:
        height, width = gray8.shape
        x = torch.from_numpy(gray8.astype(np.float32) / 255)[None, None]
        stride = self.net.stride
        x = torch.nn.functional.pad(x, (0, -width % stride, 0, -height % stride), mode="replicate")
        return torch.sigmoid(self.net(x))[0, 0, :height, :width].numpy()


def operating_table(net: DamageNet, paths: list[Path]) -> list[tuple[float, str, float, float]]:
    """(threshold, kind, precision, recall) of what model.restore would fill (find_defects) at each threshold, on
    these photos made old in each of DAMAGE_SETS' ways (with seeds of their own, not bench.restore's)."""
    from model.restore import find_defects
    thresholds = np.round(np.arange(0.2, 0.96, 0.05), 2)
    counts = np.zeros((len(DAMAGE_SETS), len(thresholds), 4))
    for path in paths:
        gray = gray_photo(path)
        for k, kinds in enumerate(DAMAGE_SETS.values()):
            damaged, truth = made_old(gray, "operating point " + path.name, kinds)
            probability = _Eager(net, sure=0.0)(damaged)
            for i, threshold in enumerate(thresholds):
                found = find_defects(damaged, _Eager(net, float(threshold)), probability)[0]
                counts[k, i] += [near(found, truth).sum(), found.sum(), near(truth, found).sum(), truth.sum()]
    return [(float(t), kind, c[0] / max(c[1], 1), c[2] / max(c[3], 1))
            for kind, rows in zip(DAMAGE_SETS, counts) for t, c in zip(thresholds, rows)]


def best_threshold(table: list[tuple[float, str, float, float]], goals: tuple[float, float] = GOALS) -> float:
    """The threshold that best meets the goals (precision, recall) on every kind of damage: the one whose smallest
    margin (precision minus its goal, recall minus its goal, over the kinds) is largest."""
    margins: dict[float, float] = {}
    for threshold, _, precision, recall in table:
        margin = min(precision - goals[0], recall - goals[1])
        margins[threshold] = min(margins.get(threshold, margin), margin)
    return max(margins, key=lambda t: (margins[t], -t))


def evidence_bar(net: DamageNet, sure: float, paths: list[Path], clean_share: float = CLEAN_SHARE) -> tuple[int, list]:
    """The fewest defects (model.restore.find_defects) that at most clean_share of these clean photos reach, and
    the sorted counts it was read from: how often the detector sees damage where there is none (recorded in the
    file; model.restore does not rely on the detector alone to call a photo an old print)."""
    from model.restore import detection_copy, find_defects
    counts = sorted(sum(find_defects(detection_copy(gray_photo(path))[0], _Eager(net, sure))[1:3]) for path in paths)
    allowed = int(clean_share * len(counts))  # photos that may reach the bar
    return counts[len(counts) - 1 - allowed] + 1, counts


def export(checkpoint: Path, destination: Path, photos: int) -> None:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = DamageConfig(**state["config"])
    net = DamageNet(config.net_widths())
    net.load_state_dict(state["net"])
    paths = split_paths(list_images(Path(config.data)), config.val_fraction)[0]
    chosen = [paths[i] for i in np.random.default_rng(1234).choice(len(paths), min(photos, len(paths)), False)]
    table = operating_table(net, chosen)
    sure = best_threshold(table)
    for threshold, kind, precision, recall in table:
        print(f"{kind}, probability {threshold:.2f}: precision {precision:.3f} recall {recall:.3f}")
    print(f"operating point: {sure:.2f}")
    rest = [p for p in paths if p not in set(chosen)]
    clean = [rest[i] for i in np.random.default_rng(4321).choice(len(rest), min(CLEAN_PHOTOS, len(rest)), False)]
    bar, counts = evidence_bar(net, sure, clean)
    print(f"defects found on {len(counts)} clean photos: median {counts[len(counts) // 2]}, largest {counts[-5:]}; "
          f"1 in 500 reaches {bar}")
    info = {"sure": sure, "started_from": Path(config.init).parent.name if config.init else None,
            "clean_defects": {"photos": len(counts), "median": counts[len(counts) // 2], "one_in_500": bar},
            "trained": {"steps": state["step"], "data": Path(config.data).name,
                        "config": {k: Path(v).name if k == "negatives" and v else v
                                   for k, v in dataclasses.asdict(config).items() if k not in ("data", "out", "init")},
                        "operating_point_photos": len(chosen), "goals": GOALS,
                        "date": time.strftime("%Y-%m-%d")}}
    atomic_write(destination, lambda tmp: save_detector(net, tmp, info))
    print(f"wrote {destination}")


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_damage", description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(DamageConfig):
        parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default)
    parser.add_argument("--resume", action="store_true", help="go on from the run folder's checkpoint")
    parser.add_argument("--export", type=Path, help="write the run's detector here (after training, or alone "
                        "when the run has finished) with its operating point")
    parser.add_argument("--mine", type=Path, help="write the hard negatives of --mine-photos clean training-split "
                        "photos (what --mine-detector fills on them) to this file for --negatives, and stop")
    parser.add_argument("--mine-detector", type=Path, help="the detector file --mine asks (default: the shipped one)")
    parser.add_argument("--mine-photos", type=int, default=3000)
    parser.add_argument("--operating-photos", type=int, default=100, help="training-split photos the operating "
                        "point is read on")
    args = parser.parse_args(argv)
    config = DamageConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DamageConfig)})
    if not config.data or not Path(config.data).is_dir():
        parser.error(f"--data must be a folder of photos, got {config.data!r}")
    try:
        stride = 2 ** (len(config.net_widths()) - 1)
    except ValueError as error:
        parser.error(str(error))
    if config.crop % stride:
        parser.error(f"--crop must be a multiple of {stride} for a net of {len(config.net_widths())} levels")
    if args.mine:
        from model.damage import DEFAULT_DETECTOR, DamageDetector
        detector = DamageDetector.load(args.mine_detector or DEFAULT_DETECTOR)
        paths = split_paths(list_images(Path(config.data)), config.val_fraction)[0]
        rng = np.random.default_rng(config.seed)
        chosen = sorted(paths[i] for i in rng.choice(len(paths), min(args.mine_photos, len(paths)), replace=False))
        spots = hard_negatives(detector, chosen)
        write_negatives(spots, Path(config.data), args.mine, {"detector": str(args.mine_detector or DEFAULT_DETECTOR),
                                                               "photos": len(chosen)})
        print(f"{len(spots)} hard negatives on {len(chosen)} clean photos written to {args.mine}")
        return 0
    if not config.out:
        parser.error("--out: the run folder is needed")
    checkpoint = Path(config.out) / CHECKPOINT
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"] if checkpoint.exists() else None
    done = step is not None and step >= config.steps
    if step is not None and not args.resume and not (args.export and done):
        # Never start a run over one that is there (a second command while the first trains would overwrite it)
        parser.error(f"{config.out} already holds a run at step {step}: add --resume to go on with it (and --steps "
                     f"{step} --export FILE to export it as it is), or choose another --out")
    if not (args.export and done):
        (Path(config.out)).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(config.out) / "config.json",
                     lambda tmp: tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2)))
        checkpoint = train(config, args.resume)
    if args.export:
        export(checkpoint, args.export, args.operating_photos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
