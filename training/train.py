"""Train the colorizer, with simulated colour hints (training.hints) on about half of the samples. The recipe
(training.recipes) follows from the config: L1 or log-L1 on ab (the ab head), optionally with a conditional
WGAN-GP critic after a warm-up (--adversarial true), or a rebalanced cross-entropy over ab bins (the bins head).

    python -m training.train --data PHOTOS --out runs/name [--max-steps N ...]
    python -m training.train --data PHOTOS --out runs/name --init weights/colorizer.pt   # fine-tune a model
    python -m training.train --out runs/name --resume [--max-steps N]
    torchrun --nproc-per-node N -m training.train ...    # data parallel: N processes (GPUs, or CPU with gloo)

The run folder gets config.json, data.json (photo counts; what --init started from, by name and hash),
checkpoint.pt (written atomically every --checkpoint-every steps), metrics.jsonl (one JSON object per log line:
the means over the --log-every steps before it) and samples/step_N.png (gray | ours | ours with 10 simulated
hints | original, on validation crops). It prints a line before the photo scan, one when training starts, one
after the first step (its time and the time left), then a log line every --log-every steps and a progress line
whenever a minute has passed without one.
"""
import copy
import dataclasses
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from model.color import denormalize_ab, denormalize_l, lab_to_rgb
from model.files import atomic_write
from model.generator import count_parameters, load_compatible
from model.networks import build_generator, has_imagenet_encoder
from model.weights import WeightsError, default_precision, file_sha256, is_torchscript, read_state
from training.config import ARCHITECTURE_FIELDS, RESUNET_FIELDS, TrainConfig, load_run_config, parse_args
from training.data import PhotoCrops, as_unit_float, list_images, scan_photos, split_paths, spread, to_model_inputs
from training.hints import patch_hints, recoloured_hints
from training.imagenet import MissingWeights, freeze_imagenet, load_imagenet
from training.progress import Meter, Progress, duration
from training.recipes import recipe_class
from training.sheets import contact_sheet

CHECKPOINT = "checkpoint.pt"
VAL_BATCH = 64  # validation crops scored at each evaluation
SAMPLE_ROWS = 8
VAL_HINTS = 10  # validation also scores the crops with this many simulated hints each
PROGRESS_EVERY = 60.0  # seconds without a line after which a progress line is printed


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def setup_distributed(config: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) it joins the process group: NCCL with one
    GPU per process, gloo on CPUs. Without torchrun: rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(config.device)
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world, device


def forever(loader: DataLoader) -> Iterator[torch.Tensor]:
    epoch = 0
    while True:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process
        yield from loader
        epoch += 1


def learning_rate(config: TrainConfig, step: int) -> float:
    """Constant, then linear decay to zero over the last (1 - lr_decay_start) of the run."""
    start = config.lr_decay_start * config.max_steps
    if step < start:
        return config.lr
    return config.lr * max(0.0, (config.max_steps - step) / max(1.0, config.max_steps - start))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # follow closely at first, when the weights move fast
    # The multi-tensor op that torch's optimizers use: one launch for all the weights, not one each.
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    for averaged, live in zip(ema.buffers(), model.buffers()):
        averaged.copy_(live)  # batch-norm statistics are already averages


def to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) and (B, 2, H, W) normalized -> (B, 3, H, W) RGB in [0, 1]."""
    return lab_to_rgb(torch.cat([denormalize_l(l_norm), denormalize_ab(ab_norm)], dim=1).float())


def psnr(rgb: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR in dB, for RGB in [0, 1]."""
    mse = ((rgb - target) ** 2).flatten(1).mean(dim=1).clamp(min=1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def bfloat16_native(device: torch.device) -> bool:
    """Whether device computes bfloat16 natively: a CPU with AVX512-BF16 or AMX (model.weights.default_precision
    reads that), or a CUDA GPU that supports it."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and default_precision(device) == "bfloat16"


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """--amp (auto, true or false) -> bfloat16 for autocast, or None for float32 throughout.

    auto takes bfloat16 only where it is native: elsewhere torch emulates it, and a training step took about 80 s
    instead of 12 to 15 s in float32 on a 2-core CPU without it.
    """
    if amp == "auto":
        return torch.bfloat16 if bfloat16_native(device) else None
    return torch.bfloat16 if amp == "true" else None


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool, rank: int = 0, world: int = 1,
                 device: torch.device | None = None):
        self.config = config
        self.run_dir = run_dir
        self.rank, self.world = rank, world
        self.device = device or pick_device(config.device)
        self.amp_dtype = autocast_dtype(config.amp, self.device)

        self.generator = build_generator(config.spec())
        missing = list(self.generator.state_dict())  # what neither --init nor a checkpoint gives: all, at first
        if config.init and not resume:
            missing = load_compatible(self.generator, read_generator(Path(config.init))[1])
        if has_imagenet_encoder(self.generator):
            if not resume and any(name.startswith("imagenet.") for name in missing):
                try:
                    load_imagenet(self.generator)
                except MissingWeights as error:
                    raise SystemExit(str(error)) from None
            freeze_imagenet(self.generator, train_upper=config.encoder_lr_scale > 0)
        self.generator.to(self.device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        try:
            self.recipe = recipe_class(config)(config, self.generator, self.device, self.amp_dtype)
        except MissingWeights as error:  # --perceptual needs the ImageNet encoder's package too
            raise SystemExit(str(error)) from None
        self.hint_rng = random.Random(config.seed * 1000 + rank)  # the simulated hints' own stream
        self.step = 0
        self.seconds = 0.0  # training time over all sessions of this run
        if resume:
            self.load_checkpoint()
        if world > 1:
            # The recipe's updates run through DDP wrappers that average gradients over processes; the plain
            # networks stay what the EMA, checkpoints and evaluation use.
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.recipe.distribute(lambda module: DistributedDataParallel(module, device_ids=ids))
        self.meter = Meter()  # the logged values of the current log interval
        self.images = 0  # training images drawn since the last log line

    def describe(self) -> str:
        """What this run trains, and how: for its first line."""
        parameters = ", ".join(f"{type(net).__name__.lower()} {count_parameters(net):,} parameters "
                               f"({sum(p.numel() for p in net.parameters() if p.requires_grad):,} learning)"
                               for net in self.recipe.networks())
        native = "native" if bfloat16_native(self.device) else "not native"
        precision = "bfloat16 autocast" if self.amp_dtype else "float32"
        return (f"{self.recipe.description}; {parameters}; device {self.device}, {precision} (--amp "
                f"{self.config.amp}: bfloat16 is {native} here); step {self.step} of {self.config.max_steps}")

    # ----- checkpoints: a plain dict, written atomically
    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        self.seconds = self.seconds_before + time.time() - self.session_started
        state = {
            "generator": self.generator.state_dict(), "ema": self.ema.state_dict(),
            "step": self.step, "seconds": self.seconds, "config": json.loads(self.config.to_json()),
            "spec": self.generator.spec,  # the architecture, verbatim: export and calibrate rebuild exactly this
            **self.recipe.state_dict(),  # optimizers, and the critic or the colour prior
        }
        atomic_write(self.run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))
        if self.config.keep_every and self.step % self.config.keep_every == 0:
            atomic_write(self.run_dir / f"checkpoint_{self.step:06d}.pt", lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self) -> None:
        path = self.run_dir / CHECKPOINT
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}; start the run without --resume")
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state.get("spec") != self.generator.spec:
            raise SystemExit(f"--resume: {path} holds a generator of architecture {state.get('spec')}, the run's "
                             f"config says {self.generator.spec}; the architecture cannot change in a run")
        self.generator.load_state_dict(state["generator"])
        self.ema.load_state_dict(state["ema"])
        self.recipe.load_state_dict(state)
        self.step, self.seconds = state["step"], state["seconds"]

    # ----- validation: scores of the averaged generator on fixed crops, and a sample sheet
    @torch.no_grad()
    def evaluate(self, val_rgb: torch.Tensor) -> dict:
        """Scores of the averaged generator on the fixed validation crops, without hints and with VAL_HINTS each
        (the same hints every time); a sheet of gray | ours | ours with hints | original. Rank 0 only: {} elsewhere."""
        if self.rank != 0:
            return {}
        val_rgb = as_unit_float(val_rgb.to(self.device))  # the targets and the sheet need it as float too
        l, ab = to_model_inputs(val_rgb)
        hints = patch_hints(ab, [VAL_HINTS] * len(ab), random.Random(0))  # the same hints at every evaluation
        ab_fake = torch.cat([self.ema(chunk) for chunk in l.split(16)]).float()
        ab_hinted = torch.cat([self.ema(chunk, h) for chunk, h in zip(l.split(16), hints.split(16))]).float()
        ours, hinted = to_rgb(l, ab_fake), to_rgb(l, ab_hinted)
        gray = to_rgb(l, torch.zeros_like(ab))
        picked = spread(len(val_rgb), SAMPLE_ROWS)
        rows = [[gray[i], ours[i], hinted[i], val_rgb[i]] for i in picked]  # spread over the crops and the folder
        sheet = contact_sheet([[tensor_to_pil(t) for t in row] for row in rows], height=val_rgb.shape[-1],
                              titles=("gray", "ours", f"{VAL_HINTS} hints", "original"))
        sheet.save(self.run_dir / "samples" / f"step_{self.step:06d}.png")
        return {"val_psnr": psnr(ours, val_rgb), "val_psnr_gray": psnr(gray, val_rgb),
                "val_l1": float((ab_fake - ab).abs().mean()), f"val_psnr_hints{VAL_HINTS}": psnr(hinted, val_rgb)}

    # ----- the loop
    def train(self, loader: DataLoader, val_rgb: torch.Tensor) -> None:
        """Steps up to --max-steps. Each: this step's learning rate, the recipe's update, the moving average; at
        their intervals, a log line of the interval's means (with validation scores), and a checkpoint."""
        config, batches = self.config, forever(loader)
        self.begin_session()
        while self.step < config.max_steps:
            lr = learning_rate(config, self.step)
            self.recipe.set_learning_rate(lr)
            logs = self.recipe.step(self.step, lambda: self.batch(next(batches)))
            update_ema(self.ema, self.generator, config.ema_decay, self.step)
            self.step += 1
            self.meter.add(logs)
            last = self.step == config.max_steps
            scores = self.evaluate(val_rgb) if self.step % config.eval_every == 0 or last else {}
            if self.step % config.log_every == 0 or scores:
                self.log({"step": self.step, "lr": lr, **self.meter.means(), **scores})
            if self.step % config.checkpoint_every == 0 or last:
                self.save_checkpoint()
            self.progress.update(self.step)

    def begin_session(self) -> None:
        """Starts the clocks of this session: the training time, the pace and time left, images a second."""
        self.session_started = self.logged_at = time.time()
        self.seconds_before = self.seconds
        self.progress = Progress(self.config.max_steps, "step", done=self.step, every=PROGRESS_EVERY,
                                 enabled=self.rank == 0, stream=sys.stdout)

    def log(self, row: dict) -> None:
        """Rank 0: appends row, with the pace, to metrics.jsonl and prints it with the time left."""
        if self.rank != 0:
            return
        now = time.time()
        row |= {"images_per_s": self.images * self.world / max(now - self.logged_at, 1e-9),
                "seconds": self.seconds_before + now - self.session_started}
        self.images, self.logged_at = 0, now
        with open(self.run_dir / "metrics.jsonl", "a") as metrics:
            metrics.write(json.dumps(row) + "\n")
        self.progress.advance(row["step"])
        values = ", ".join(f"{key} {value:.4g}" for key, value in row.items()
                           if key not in ("step", "images_per_s", "seconds"))
        self.progress.say(f"step {row['step']}/{self.config.max_steps}: {values}; "
                          f"{row['images_per_s']:.3g} images/s, {self.progress.pace()}")

    def check_in_sync(self) -> None:
        """Every process must end with rank 0's weights: a cheap guard against silent divergence."""
        if self.world == 1:
            return
        parameters = [p for network in self.recipe.networks() for p in network.parameters()]
        total = torch.stack([p.detach().double().sum() for p in parameters]).sum().reshape(1)
        totals = [torch.zeros_like(total) for _ in range(self.world)]
        dist.all_gather(totals, total)
        if not all(torch.allclose(t, totals[0]) for t in totals):
            raise RuntimeError(f"processes diverged: weight sums {[t.item() for t in totals]}")

    def batch(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) RGB -> normalized L, ab and a simulated hint layer, channels-last on the device."""
        self.images += len(rgb)
        rgb = rgb.to(self.device, non_blocking=True)
        l, ab = to_model_inputs(rgb)
        ab, hints = recoloured_hints(l, ab, self.config.no_hint_share, self.config.hint_stop,
                                     self.config.recolour_points, self.hint_rng)
        return tuple(t.contiguous(memory_format=torch.channels_last) for t in (l, ab, hints))


def tensor_to_pil(rgb: torch.Tensor) -> Image.Image:
    """(3, H, W) RGB in [0, 1] -> PIL image."""
    return Image.fromarray((rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy())


def prepare_data(config: TrainConfig, rank: int = 0, world: int = 1) -> tuple[DataLoader, torch.Tensor, dict]:
    paths = list_images(Path(config.data))
    if rank == 0:  # the scan reads every file: on a large folder and 2 cores, about a minute
        print(f"{config.data}: {len(paths):,} image files; checking that they are color photos", flush=True)
    train_paths, val_paths = split_paths(paths, config.val_fraction)
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        train_paths, val_paths = scan_photos(train_paths), scan_photos(val_paths)
    for warning in skipped if rank == 0 else []:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not train_paths or not val_paths:
        raise SystemExit(f"{config.data}: need color photos for both training and validation, "
                         f"found {len(train_paths)} and {len(val_paths)}; add photos or change --val-fraction")
    train_set = PhotoCrops(train_paths, config.image_size, config.scale_size, train=True, zoom=config.zoom,
                           old_prints=config.old_prints)
    spread = val_paths[::max(1, len(val_paths) // VAL_BATCH)][:VAL_BATCH]  # across the folder, not its first files
    val_set = PhotoCrops(spread, config.image_size, config.scale_size, train=False)
    # Under torchrun each process takes its own share of every epoch; --batch-size is per process.
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=config.seed, drop_last=True) \
        if world > 1 else None
    loader = DataLoader(train_set, batch_size=min(config.batch_size, len(train_set) // world), shuffle=sampler is None,
                        sampler=sampler, drop_last=True, num_workers=config.num_workers,
                        persistent_workers=config.num_workers > 0)
    val_rgb = torch.stack([val_set[i] for i in range(len(val_set))])
    facts = {"train_images": len(train_paths), "val_images": len(val_paths), "skipped": len(skipped)}
    return loader, val_rgb, facts


def read_generator(path: Path) -> tuple[dict, dict]:
    """A weights file or a run's checkpoint -> (architecture spec, generator weights: the moving average's).
    Raises SystemExit with a message when it is neither."""
    if not path.is_file():
        raise SystemExit(f"--init: no file at {path}")
    if is_torchscript(path):
        try:
            info, state = read_state(path)
        except WeightsError as error:
            raise SystemExit(f"--init: {error}") from None
        return info["generator"], state
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        spec = checkpoint.get("spec") or {name: checkpoint["config"][name] for name in RESUNET_FIELDS}
        return spec, checkpoint["ema"]
    except Exception as error:
        raise SystemExit(f"--init: {path} is neither a weights file nor a run's checkpoint "
                         f"({type(error).__name__}: {error})") from None


def settle_config(config: TrainConfig, args, explicit: dict) -> TrainConfig:
    """The command line -> the run's config: the saved one on --resume (the command line wins), the architecture
    of --init's file when given. Raises SystemExit, in one line, for anything that cannot start."""
    run_dir = Path(config.out)
    if args.resume:
        if not (run_dir / CHECKPOINT).exists() or not (run_dir / "config.json").exists():
            raise SystemExit(f"--resume: {run_dir} holds no run to continue (no {CHECKPOINT} and config.json); "
                             f"start it without --resume")
        try:
            saved = load_run_config(run_dir)
        except ValueError as error:
            raise SystemExit(f"--resume: {run_dir / 'config.json'}: {error}") from None
        changed = [f"--{name.replace('_', '-')}" for name in ARCHITECTURE_FIELDS
                   if name in explicit and explicit[name] != getattr(saved, name)]
        if changed:
            raise SystemExit(f"--resume: the architecture cannot change in a run; drop {', '.join(changed)}")
        config = TrainConfig.from_dict({**json.loads(saved.to_json()), **explicit})  # the command line wins
    elif (run_dir / CHECKPOINT).exists():
        raise SystemExit(f"{run_dir} already holds a run: add --resume to continue it, or choose another --out")
    elif config.init:
        spec, _ = read_generator(Path(config.init))
        spec = {"architecture": "resunet", **spec}
        if explicit.get("architecture") == "resunet_imagenet" and spec["architecture"] == "resunet":
            spec["architecture"] = "resunet_imagenet"  # the ResUNet it starts from, with the encoder added
        clashes = [f"--{name.replace('_', '-')} {explicit[name]} (the file's: {spec[name]})"
                   for name in ARCHITECTURE_FIELDS
                   if name in explicit and name in spec and explicit[name] != spec[name]]
        if clashes:
            raise SystemExit(f"--init {config.init} fixes the architecture; drop {', '.join(clashes)}")
        config = dataclasses.replace(config, **spec)
    if not config.data:
        raise SystemExit("--data is required: a folder of color photos")
    if not Path(config.data).is_dir():
        raise SystemExit(f"--data: no such folder of photos: {config.data}")
    try:
        config.validate()
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return config


def started_from(config: TrainConfig, run_dir: Path, resume: bool) -> dict:
    """What --init started the run from, by file name and SHA-256, never by path; a resumed run keeps what its
    first session recorded."""
    if not config.init:
        return {}
    earlier = run_dir / "data.json"
    if resume and earlier.exists():
        saved = json.loads(earlier.read_text())
        if "init_sha256" in saved:
            return {"init": saved["init"], "init_sha256": saved["init_sha256"]}
    path = Path(config.init)
    return {"init": path.name, **({"init_sha256": file_sha256(path)} if path.is_file() else {})}


def main(argv: list | None = None) -> None:
    config, args, explicit = parse_args(argv)
    config = settle_config(config, args, explicit)
    run_dir = Path(config.out)
    rank, world, device = setup_distributed(config)
    random.seed(config.seed + rank)  # different crops on each process; DDP copies rank 0's initial weights
    torch.manual_seed(config.seed + rank)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest convolutions once
    loader, val_rgb, facts = prepare_data(config, rank, world)  # before the run folder: bad data leaves none
    facts |= {"processes": world, **started_from(config, run_dir, args.resume)}
    if rank == 0:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.json", lambda tmp: tmp.write_text(config.to_json()))
        atomic_write(run_dir / "data.json", lambda tmp: tmp.write_text(json.dumps(facts, indent=2)))
    trainer = Trainer(config, run_dir, resume=args.resume, rank=rank, world=world, device=device)
    if rank == 0:
        print(f"{trainer.describe()}; {facts['train_images']:,} training and {facts['val_images']:,} validation "
              f"photos; {world} process(es)", flush=True)
    trainer.recipe.prepare(loader)
    trainer.train(loader, val_rgb)
    trainer.check_in_sync()
    if world > 1:
        dist.barrier()  # no collective still in flight when the group is torn down: gloo can abort the process
        dist.destroy_process_group()
    if rank == 0:
        checkpoint = run_dir / CHECKPOINT
        print(f"done: {checkpoint} at step {trainer.step}, {duration(trainer.seconds)} of training in all\n"
              f"next, choose its operating point (it prints the export command; photos the run did not train on "
              f"are better):\n  python -m training.calibrate {checkpoint} --images {config.data}", flush=True)


if __name__ == "__main__":
    main()
