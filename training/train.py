"""Train the colorizer: L1 on ab (the ab head) or a rebalanced cross-entropy over ab bins (the bins head), with
simulated colour hints (training.hints) on about half of the samples; optionally, for the ab head, a conditional
WGAN-GP critic after an L1 warm-up (--adversarial true).

    python -m training.train --data PHOTOS --out runs/name [--max-steps N ...]
    python -m training.train --data PHOTOS --out runs/name --init weights/colorizer.pt   # fine-tune a model
    python -m training.train --out runs/name --resume [--max-steps N]
    torchrun --nproc-per-node N -m training.train ...    # data parallel: N processes (GPUs, or CPU with gloo)

The run folder gets config.json, checkpoint.pt (written atomically every --checkpoint-every steps),
metrics.jsonl (one JSON object per log line) and samples/step_N.png (gray | ours | ours with 10 simulated hints |
original, on validation crops).
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

import torch
import torch.distributed as dist
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from model.bins import nearest_bin, rebalancing_weights
from model.color import denormalize_ab, denormalize_l, lab_to_rgb
from model.critic import Critic
from model.files import atomic_write
from model.generator import Generator, count_parameters, load_compatible
from model.weights import WeightsError, is_torchscript, read_state
from training.config import ARCHITECTURE_FIELDS, TrainConfig, load_run_config, parse_args
from training.data import PhotoCrops, as_unit_float, list_images, scan_photos, split_paths, spread, to_model_inputs
from training.hints import patch_hints, simulate_hints
from training.losses import bins_loss, critic_loss, downsample_ab, generator_loss
from training.sheets import contact_sheet

CHECKPOINT = "checkpoint.pt"
VAL_BATCH = 64  # validation crops scored at each evaluation
PRIOR_BATCHES = 64  # training batches counted for the colour prior of the bins head
SAMPLE_ROWS = 8
VAL_HINTS = 10  # validation also scores the crops with this many simulated hints each


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


def forever(loader: DataLoader):
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


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool, rank: int = 0, world: int = 1,
                 device: torch.device | None = None):
        self.config = config
        self.run_dir = run_dir
        self.rank, self.world = rank, world
        self.device = device or pick_device(config.device)
        self.amp_dtype = torch.bfloat16

        self.generator = Generator(**config.spec())
        if config.init and not resume:
            load_compatible(self.generator, read_generator(Path(config.init))[1])
        self.generator.to(self.device, memory_format=torch.channels_last)
        self.critic = Critic(**config.critic_kwargs()).to(self.device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.hint_rng = random.Random(config.seed * 1000 + rank)  # the simulated hints' own stream
        # WGAN-GP's usual choice is less momentum than Adam's default; the bins head has no critic to chase.
        betas = (0.5, 0.9) if config.head == "ab" else (0.9, 0.99)
        # The hint layer starts at zero and learns faster: each parameter group carries its scale of the rate.
        hint_layer = list(self.generator.hint_stem.parameters())
        rest = [p for name, p in self.generator.named_parameters() if not name.startswith("hint_stem.")]
        self.opt_g = torch.optim.Adam([{"params": rest, "scale": 1.0},
                                       {"params": hint_layer, "scale": config.hint_lr_scale}], lr=config.lr, betas=betas)
        self.opt_c = torch.optim.Adam([{"params": list(self.critic.parameters()), "scale": 1.0}], lr=config.lr,
                                      betas=betas)
        self.step = 0
        self.seconds = 0.0  # training time over all sessions of this run
        self.class_weights: torch.Tensor | None = None  # bins head: loss weight of each ab bin (see fit_prior)
        if resume:
            self.load_checkpoint()
        # The networks that the updates run through: DDP wrappers averaging gradients over processes, or the
        # networks themselves. self.generator and self.critic stay the plain modules (EMA, checkpoints, eval).
        self.generator_train, self.critic_train = self.generator, self.critic
        if world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.generator_train = DistributedDataParallel(self.generator, device_ids=ids)
            self.critic_train = DistributedDataParallel(self.critic, device_ids=ids)

    # ----- checkpoints: a plain dict, written atomically
    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {
            "generator": self.generator.state_dict(), "critic": self.critic.state_dict(), "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_c": self.opt_c.state_dict(),
            "step": self.step, "seconds": self.seconds, "config": json.loads(self.config.to_json()),
            "spec": self.generator.spec,  # the architecture, verbatim: export and calibrate rebuild exactly this
        }
        if self.class_weights is not None:
            state["class_weights"] = self.class_weights
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
        self.critic.load_state_dict(state["critic"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_c.load_state_dict(state["opt_c"])
        self.step, self.seconds = state["step"], state["seconds"]
        self.class_weights = state.get("class_weights")

    @torch.no_grad()
    def fit_prior(self, loader: DataLoader) -> None:
        """Bins head: counts the ab bins of some training batches and turns them into rebalancing weights.

        Every process counts its own batches and the counts are summed, so all processes use the same weights.
        """
        centers = self.generator.head.centers
        counts = torch.zeros(len(centers), device=self.device)
        for _, rgb in zip(range(PRIOR_BATCHES), loader):
            _, ab = to_model_inputs(rgb.to(self.device))
            bins = nearest_bin(downsample_ab(ab, self.config.stem_stride), centers)  # at the logits' resolution
            counts += torch.bincount(bins.flatten(), minlength=len(centers)).float()
        if self.world > 1:
            dist.all_reduce(counts)
        self.class_weights = rebalancing_weights(counts, centers, mix=self.config.rebalance)
    # ----- the two updates
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.config.amp)

    def critic_step(self, l: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor) -> dict:
        self.critic.requires_grad_(True)
        with torch.no_grad(), self.autocast():
            ab_fake = self.generator(l, hints)
        with self.autocast():
            loss, logs = critic_loss(self.critic_train, l, ab, ab_fake, self.config.gp_weight)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        return logs

    def generator_step(self, l: torch.Tensor, ab: torch.Tensor, hints: torch.Tensor, adversarial: bool) -> dict:
        self.critic.requires_grad_(False)  # frozen: the generator's loss must not train the critic
        if self.config.head == "bins":
            with self.autocast():
                logits = self.generator_train(l, hints, True)
            loss, logs = bins_loss(logits, ab, self.generator.head.centers, self.class_weights)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
            return logs
        with self.autocast():
            ab_fake = self.generator_train(l, hints)
            loss, logs = generator_loss(self.critic if adversarial else None, l, ab, ab_fake, self.config.l1_weight,
                                        self.config.loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return logs

    # ----- validation: scores of the averaged generator on fixed crops, and a sample sheet
    @torch.no_grad()
    def evaluate(self, val_rgb: torch.Tensor) -> dict:
        """Scores of the averaged generator on the fixed validation crops, without hints and with VAL_HINTS each
        (the same hints every time); a sheet of gray | ours | ours with hints | original."""
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

    def train(self, train_loader: DataLoader, val_rgb: torch.Tensor) -> None:
        config = self.config
        batches = forever(train_loader)
        main_process = self.rank == 0  # only it writes metrics, samples and checkpoints, and reports
        metrics = open(self.run_dir / "metrics.jsonl", "a") if main_process else None
        bar = tqdm(total=config.max_steps, initial=self.step, desc="train", dynamic_ncols=True,
                   disable=None if main_process else True)  # None: no bar when the output is not a terminal
        started, images, logs = time.time(), 0, {}
        while self.step < config.max_steps:
            lr = learning_rate(config, self.step)
            for opt in (self.opt_g, self.opt_c):
                for group in opt.param_groups:
                    group["lr"] = lr * group["scale"]
            adversarial = config.adversarial and self.step >= config.warmup_steps
            if adversarial:
                for _ in range(config.critic_steps):
                    l, ab, hints = self.batch(next(batches))
                    logs.update(self.critic_step(l, ab, hints))
                    images += len(l)
            l, ab, hints = self.batch(next(batches))
            logs.update(self.generator_step(l, ab, hints, adversarial))
            images += len(l)
            update_ema(self.ema, self.generator, config.ema_decay, self.step)
            self.step += 1
            bar.update(1)

            last = self.step == config.max_steps
            evaluate = self.step % config.eval_every == 0 or last
            if main_process and (self.step % config.log_every == 0 or evaluate):
                elapsed = time.time() - started
                row = {"step": self.step, "lr": lr, "images_per_s": images * self.world / max(elapsed, 1e-9),
                       "seconds": self.seconds + elapsed, **logs}
                if evaluate:
                    row.update(self.evaluate(val_rgb))
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()
                                 if k in ("l1", "cross_entropy", "wasserstein", "gp", "val_psnr")})
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                if bar.disable:  # no bar (output is not a terminal): print the line instead
                    print(json.dumps(row), flush=True)
            if self.step % config.checkpoint_every == 0 or last:
                self.seconds += time.time() - started
                started, images = time.time(), 0
                self.save_checkpoint()
        bar.close()
        if metrics:
            metrics.close()

    def check_in_sync(self) -> None:
        """Every process must end with rank 0's weights: a cheap guard against silent divergence."""
        if self.world == 1:
            return
        parameters = [*self.generator.parameters(), *self.critic.parameters()]
        total = torch.stack([p.detach().double().sum() for p in parameters]).sum().reshape(1)
        totals = [torch.zeros_like(total) for _ in range(self.world)]
        dist.all_gather(totals, total)
        if not all(torch.allclose(t, totals[0]) for t in totals):
            raise RuntimeError(f"processes diverged: weight sums {[t.item() for t in totals]}")

    def batch(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) RGB -> normalized L, ab and a simulated hint layer, channels-last on the device."""
        rgb = rgb.to(self.device, non_blocking=True)
        l, ab = to_model_inputs(rgb)
        hints = simulate_hints(ab, self.config.no_hint_share, self.config.hint_stop, self.hint_rng)
        return tuple(t.contiguous(memory_format=torch.channels_last) for t in (l, ab, hints))


def tensor_to_pil(rgb: torch.Tensor) -> Image.Image:
    """(3, H, W) RGB in [0, 1] -> PIL image."""
    return Image.fromarray((rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy())


def prepare_data(config: TrainConfig, rank: int = 0, world: int = 1) -> tuple[DataLoader, torch.Tensor, dict]:
    paths = list_images(Path(config.data))
    train_paths, val_paths = split_paths(paths, config.val_fraction)
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        train_paths, val_paths = scan_photos(train_paths), scan_photos(val_paths)
    for warning in skipped if rank == 0 else []:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not train_paths or not val_paths:
        raise SystemExit(f"{config.data}: need color photos for both training and validation, "
                         f"found {len(train_paths)} and {len(val_paths)}; add photos or change --val-fraction")
    train_set = PhotoCrops(train_paths, config.image_size, config.scale_size, train=True, zoom=config.zoom)
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
        spec = checkpoint.get("spec") or {name: checkpoint["config"][name] for name in ARCHITECTURE_FIELDS}
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
        clashes = [f"--{name.replace('_', '-')} {explicit[name]} (the file's: {spec[name]})"
                   for name in ARCHITECTURE_FIELDS if name in explicit and explicit[name] != spec[name]]
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
    if rank == 0:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.json", lambda tmp: tmp.write_text(config.to_json()))
    trainer = Trainer(config, run_dir, resume=args.resume, rank=rank, world=world, device=device)
    if config.head == "bins" and trainer.class_weights is None:
        trainer.fit_prior(loader)
    if rank == 0:
        atomic_write(run_dir / "data.json", lambda tmp: tmp.write_text(json.dumps(facts | {"processes": world}, indent=2)))
        print(f"generator {count_parameters(trainer.generator):,} parameters, critic {count_parameters(trainer.critic):,}; "
              f"{facts['train_images']} training and {facts['val_images']} validation photos; device {trainer.device}; "
              f"step {trainer.step} of {config.max_steps}; {world} process(es)", flush=True)
    trainer.train(loader, val_rgb)
    trainer.check_in_sync()
    if world > 1:
        dist.barrier()  # no collective still in flight when the group is torn down: gloo can abort the process
        dist.destroy_process_group()
    if rank == 0:
        print(f"done: {run_dir / CHECKPOINT} at step {trainer.step}", flush=True)


if __name__ == "__main__":
    main()
