"""How a process shares its cores between torch, OpenCV, NumPy's BLAS and the video codec: set once, for every
entry point.

    share_cores()      # the command line, the worker, the web app (create_app), Colorizer.load: first call wins;
                       # torch on OMP_NUM_THREADS threads where it is set, else on the process's cores
    share_cores(2)     # two torch threads (COLORIZER_TORCH_THREADS, a test); replaces what was set
    codec_threads()    # FFmpeg threads for a film's decoder and for its encoder, each

Each library left to itself starts a pool the size of the machine: torch for the network, OpenCV for the flow,
resizes and the painting's warps, FFmpeg for decoding and x264 for encoding. On a busy 2-core machine those pools
fight (the command line ran a film 2.7 times slower than with OMP_NUM_THREADS=1). So torch, which does the heavy
work, gets the cores it is given; OpenCV, whose work here is on small pictures or strips, half of them; the codec,
half of them for the decoder and as many for the encoder, which wait on each other's frames more than they run.
NumPy's BLAS (OpenBLAS, and the copy inside OpenCV's wheel) gets half too: its threads keep spinning for a while
after a matrix product, and the next network pass on 2 cores took twice its time (60 -> 135 ms at 1024x768) after
the reference matching's one product of a few milliseconds. threadpoolctl sets it at run time, whichever
library loaded it.
"""
import os

import cv2
import torch
from threadpoolctl import threadpool_limits

_shared: int | None = None  # the torch threads set by the first call, or None before it


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset limits it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def share_cores(torch_threads: int = 0) -> int:
    """Sets torch's, OpenCV's and NumPy's BLAS threads for this process; returns torch's. torch_threads: 0 for
    OMP_NUM_THREADS where it is set, else the process's cores, or as the first call set them when there was one;
    another number replaces what was set."""
    global _shared
    if not torch_threads and _shared is not None:
        return _shared
    threads = torch_threads or asked_threads() or available_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(helper_threads(threads))
    threadpool_limits(helper_threads(threads), user_api="blas")
    _shared = threads
    return threads


def asked_threads() -> int:
    """OMP_NUM_THREADS, the usual way to ask a torch program for fewer threads, when it is a whole number above 0."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 0


def helper_threads(threads: int | None = None) -> int:
    """Threads for OpenCV, and for each of a film's decoder and encoder: half of torch's, at least 1."""
    return max(1, (threads or _shared or available_cores()) // 2)


def codec_threads() -> int:
    """FFmpeg threads for a film's decoder, and for its encoder (model.film): helper_threads."""
    return helper_threads()
