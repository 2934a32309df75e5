"""The network alone: latency at working sizes 256 and 512, size, multiply-adds, and the rate achieved as a
share of this machine's own measured matrix-product rate; the network of Zhang et al. 2016 as a reference.
Last, in the same run, the whole Colorizer on a gray and an RGB 1024x768 photo against the reference's bare
forward pass.

    python -m bench.model [--weights PATH] [--baseline PATH] [--repeats 10] [--photo PATH]
"""
import argparse
import io
import statistics
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from bench.load import sample_photo
from bench.zhang2016 import zhang2016
from model.colorizer import Colorizer
from model.generator import count_parameters
from model.networks import build_generator
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, default_precision, load_network


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


def matmul_rate(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """This machine's matrix-product rate in GFLOP/s for dtype: the ceiling for a conv net's arithmetic."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    seconds = latency(lambda _: a @ b, (1,), repeats)
    return 2 * size**3 / seconds / 1e9


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--baseline", help="another weights file, timed end to end in the same run (for example "
                                           "the previous model)")
    parser.add_argument("--photo", help="time the Colorizer on this photo (resized to 1024x768, RGB and gray) "
                                        "instead of synthetic ones")
    args = parser.parse_args(argv)

    precisions = [p for p in PRECISIONS if p == "float32" or p == default_precision()]  # bfloat16 where native
    peaks = {p: matmul_rate(dtype=getattr(torch, p)) for p in precisions}
    reference = zhang2016().eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; matrix product (2048x2048): "
          + ", ".join(f"{p} {rate:.0f} GFLOP/s" for p, rate in peaks.items()))
    print("| network | precision | input | parameters | GMAC | latency ms | GFLOP/s | share of matmul rate "
          "(same precision) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for precision in precisions:
        network, info = load_network(args.weights, precision=precision)  # frozen TorchScript, as the Colorizer runs it
        eager = build_generator(info["generator"])
        dtype = getattr(torch, precision)
        rows += [("ours (frozen TorchScript)", precision, lambda x, n=network, d=dtype: n(x.to(d)), eager, side)
                 for side in (256, 512)]
    rows.append(("Zhang et al. 2016 (eager)", "float32", reference, reference, 256))
    results = {}
    for name, precision, runner, counted, side in rows:
        shape = (1, 1, side, side)
        macs = multiply_adds(counted, shape)
        seconds = latency(runner, shape, args.repeats)
        results[(name, precision, side)] = seconds
        rate = 2 * macs / seconds / 1e9
        print(f"| {name} | {precision} | {side}x{side} | {count_parameters(counted) / 1e6:.2f}M | {macs / 1e9:.2f} | "
              f"{seconds * 1000:.1f} | {rate:.0f} | {rate / peaks[precision]:.0%} |")
    theirs = results[("Zhang et al. 2016 (eager)", "float32", 256)]

    weights = {"": args.weights} | ({"baseline: ": args.baseline} if args.baseline else {})
    print(f"\nColorizer end to end ({default_precision()}) against the reference's bare forward pass at 256x256 "
          f"({theirs * 1000:.1f} ms):")
    print("| weights | photo, 1024x768 | mode | ms | times faster than the reference |")
    print("|---|---|---|---:|---:|")
    for label, path in weights.items():
        colorizer = Colorizer.load(path)  # the precision the app and the CLI pick on this machine
        for name, photo in photos(args.photo):
            end_to_end = latency(lambda _: colorizer(photo), (1,), args.repeats)
            print(f"| {label}{Path(path).name} ({colorizer.sha256[:8]}) | {name} | {photo.mode} | "
                  f"{end_to_end * 1000:.1f} | {theirs / end_to_end:.1f}x |")


def photos(path: str | None) -> list[tuple[str, Image.Image]]:
    """The 1024x768 photos users send: gray, and RGB (a colour photo, or a scan of a print saved as RGB).
    From a photo of your own when given (its RGB and its gray version), else synthetic ones."""
    if path:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((1024, 768), Image.Resampling.BICUBIC)
        return [(f"{Path(path).name}, gray version", rgb.convert("L")), (f"{Path(path).name}", rgb)]
    loaded = []
    for name, color in (("synthetic gray JPEG", False), ("synthetic colour JPEG", True)):
        photo = Image.open(io.BytesIO(sample_photo(1024, 768, color=color)))
        photo.load()
        loaded.append((name, photo))
    return loaded

if __name__ == "__main__":
    main()
