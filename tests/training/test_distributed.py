import json
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow


def torchrun(photo_folder, out, *extra) -> subprocess.CompletedProcess:
    """A tiny training run under torchrun with two CPU processes; extra flags are added to the shared ones."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "training.train", "--data", str(photo_folder), "--out", str(out), "--image-size", "32",
               "--scale-size", "48", "--batch-size", "4", "--base-channels", "8", "--levels", "3",
               "--val-fraction", "0.25", "--num-workers", "0", "--log-every", "1", "--threads", "1", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_torchrun_trains_with_two_cpu_processes(photo_folder, tmp_path):
    """DistributedDataParallel over gloo: both phases run, rank 0 alone writes, and the run ends with a check
    (Trainer.check_in_sync) that raises if the processes' weights differ."""
    out = tmp_path / "run"
    result = torchrun(photo_folder, out, "--critic-channels", "8", "--max-steps", "4", "--warmup-steps", "2",
                      "--adversarial", "true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    assert json.loads((out / "data.json").read_text())["processes"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and "gp" in rows[-1]  # one writer; the GAN phase ran
    assert result.stdout.count("done:") == 1


def test_torchrun_trains_the_bins_head_with_one_colour_prior(photo_folder, tmp_path):
    """The bins head under torchrun: each process counts the colours of its own batches and the counts are
    summed over gloo (Trainer.fit_prior), then the cross-entropy trains without a critic."""
    out = tmp_path / "run"
    result = torchrun(photo_folder, out, "--head", "bins", "--stem-stride", "2", "--max-steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and state["class_weights"].shape == (262,)


def _check_after_perturbing(rank: int, port: int, perturb: bool, results) -> None:
    import os
    import torch.distributed as dist
    from training.config import TrainConfig
    from training.train import Trainer
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)  # the same initial weights on both ranks
    config = TrainConfig(base_channels=8, levels=3, critic_channels=8, device="cpu")
    trainer = Trainer(config, run_dir=None, resume=False, rank=rank, world=2, device=torch.device("cpu"))
    if perturb and rank == 1:
        with torch.no_grad():
            next(trainer.generator.parameters()).add_(1.0)
    try:
        trainer.check_in_sync()
        results.put((rank, "in sync"))
    except RuntimeError as error:
        results.put((rank, str(error)))
    dist.destroy_process_group()


@pytest.mark.parametrize("perturb", [False, True])
def test_the_sync_check_catches_diverged_processes(perturb):
    import torch.multiprocessing as mp
    from bench.load import free_port
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [context.Process(target=_check_after_perturbing, args=(rank, port, perturb, results))
                 for rank in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    outcomes = sorted(results.get(timeout=10) for _ in range(2))
    expected = "processes diverged" if perturb else "in sync"
    assert all(expected in message for _, message in outcomes), outcomes
