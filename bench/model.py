"""The network alone: latency at working sizes 256 and 512, size, multiply-adds, and the rate achieved as a
share of this machine's own measured matrix-product rate; the network of Zhang et al. 2016 as a reference.

    python -m bench.model [--weights PATH] [--repeats 10]
"""
import argparse
import statistics
import time

import torch
from torch import nn

from bench.zhang2016 import zhang2016
from model.generator import Generator, count_parameters
from model.weights import DEFAULT_WEIGHTS, load_network


def multiply_adds(module: nn.Module, shape: tuple) -> int:
    """Multiply-adds of one forward pass of the convolutions and linear layers, counted with hooks."""
    total = 0

    def hook(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            total += output.numel() * layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, nn.ConvTranspose2d):
            total += inputs[0].numel() * layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, nn.Linear):
            total += output.numel() * layer.in_features
    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        module.eval()(torch.zeros(shape))
    for handle in handles:
        handle.remove()
    return total


def latency(function, shape: tuple, repeats: int) -> float:
    """Median seconds of function(x) after two warm-up calls (TorchScript optimizes on its first calls)."""
    x = torch.randn(shape)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):
            started = time.perf_counter()
            function(x)
            if i >= 2:
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    """This machine's float32 matrix-product rate in GFLOP/s: the ceiling for a conv net's arithmetic."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = latency(lambda _: a @ b, (1,), repeats)
    return 2 * size**3 / seconds / 1e9


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    peak = matmul_rate()
    network, info = load_network(args.weights)  # frozen TorchScript, as the Colorizer runs it
    eager = Generator(**info["generator"])
    reference = zhang2016().eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 matrix product: {peak:.0f} GFLOP/s")
    print("| network | input | parameters | GMAC | latency ms | GFLOP/s | share of matmul rate |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = [("ours (frozen TorchScript)", network, eager, 256), ("ours (frozen TorchScript)", network, eager, 512),
            ("Zhang et al. 2016 (eager)", reference, reference, 256)]
    results = {}
    for name, runner, counted, side in rows:
        shape = (1, 1, side, side)
        macs = multiply_adds(counted, shape)
        seconds = latency(runner, shape, args.repeats)
        results[(name, side)] = seconds
        rate = 2 * macs / seconds / 1e9
        print(f"| {name} | {side}x{side} | {count_parameters(counted) / 1e6:.2f}M | {macs / 1e9:.2f} | "
              f"{seconds * 1000:.0f} | {rate:.0f} | {rate / peak:.0%} |")
    ours, theirs = results[("ours (frozen TorchScript)", 256)], results[("Zhang et al. 2016 (eager)", 256)]
    print(f"\nAt 256x256 ours takes {ours * 1000:.0f} ms, the reference {theirs * 1000:.0f} ms: {theirs / ours:.1f}x faster.")


if __name__ == "__main__":
    main()
