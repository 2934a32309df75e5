"""model.threads: torch, OpenCV, NumPy's BLAS and the video codec share a process's cores, set once for every
entry point."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import model.threads
from model.threads import available_cores, codec_threads, share_cores

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restored(monkeypatch):
    """Each test's settings undone after it: other tests run with the process's own."""
    torch_threads, opencv_threads = torch.get_num_threads(), cv2.getNumThreads()
    blas = blas_threads()
    monkeypatch.setattr(model.threads, "_shared", None)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(opencv_threads)
    threadpool_limits(max(blas), user_api="blas")


def blas_threads() -> list[int]:
    """The threads of each BLAS library loaded (NumPy's OpenBLAS, OpenCV's)."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_the_first_call_sets_the_threads_and_later_ones_keep_them(restored):
    assert share_cores(4) == 4
    assert torch.get_num_threads() == 4 and cv2.getNumThreads() == 2 and codec_threads() == 2
    assert blas_threads() and set(blas_threads()) == {2}
    assert share_cores() == 4 and torch.get_num_threads() == 4  # an entry point after it: what was set stays
    assert share_cores(1) == 1 and cv2.getNumThreads() == 1 and codec_threads() == 1  # asked for: replaced
    assert set(blas_threads()) == {1}


@pytest.mark.parametrize("entry", [
    "from model.colorizer import Colorizer; Colorizer.load(WEIGHTS)",  # the Python API
    "from app import create_app; create_app({'WEIGHTS': WEIGHTS, 'JOB_FOLDER': FOLDER}, start_jobs=False)",  # worker
])
@pytest.mark.parametrize("omp", [None, pytest.param("1", marks=pytest.mark.slow)])  # the second: the whole run
def test_every_entry_point_shares_the_cores(tmp_path, tiny_weights, entry, omp):
    """In a fresh process, as a person starts it: torch on the process's cores (or OMP_NUM_THREADS where it is
    set), OpenCV, NumPy's BLAS and the codec on half."""
    code = (f"WEIGHTS, FOLDER = {str(tiny_weights)!r}, {str(tmp_path / 'jobs')!r}\n{entry}\n"
            "import cv2, json, torch\nfrom model.threads import codec_threads\n"
            "from threadpoolctl import threadpool_info\n"
            "blas = {p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}\n"
            "print(json.dumps([torch.get_num_threads(), cv2.getNumThreads(), codec_threads(), sorted(blas)]))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | ({"OMP_NUM_THREADS": omp} if omp else {})
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=env)
    assert answer.returncode == 0, answer.stderr
    threads = int(omp) if omp else available_cores()
    half = max(1, threads // 2)
    assert json.loads(answer.stdout.splitlines()[-1]) == [threads, half, half, [half]]
