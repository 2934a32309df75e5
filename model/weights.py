"""The weights file: the one hand-off from training to serving.

A TorchScript module (it loads without this project's Python classes) with a JSON info file embedded:
what the net expects (stride, working size) and how it was trained. TorchScript is behind these two
functions alone, so moving to torch.export later touches only this file.
"""
import contextlib
import copy
import hashlib
import json
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

from model.efficientnet import FirstLevels
from model.points import EDGE_SCALE, MAX_EDGE_SCALE, valid_edge_scale

INFO_FILE = "colorizer.json"
FORMAT_VERSION = 2  # 2: the network takes a hint layer, and the info holds its architecture ("generator")
ENCODER_FORMAT = 3  # 3: as 2, with an ImageNet-trained encoder inside (the "architecture" in "generator" says which)
READABLE_FORMATS = (1, 2, 3)  # 1: an automatic colorizer only; it still loads, and refuses hints
MATCH_LEVELS = 4  # the ImageNet encoder's levels a reference is matched with (model.reference): to 1/16
MAX_CHROMA_GAIN = 4.0  # beyond this the colours are cartoons, whatever the net predicts
MIN_SIZE, MAX_SIZE = 32, 1024  # working sizes (the short side the network sees) a file may ask for and a caller use
# The shipped weights: weights/ in a checkout of the repository; installed (pip install .), inside this package.
_INSTALLED_WEIGHTS = Path(__file__).resolve().parent / "shipped" / "colorizer.pt"
DEFAULT_WEIGHTS = _INSTALLED_WEIGHTS if _INSTALLED_WEIGHTS.exists() else \
    Path(__file__).resolve().parent.parent / "weights" / "colorizer.pt"


class WeightsError(Exception):
    """The weights file is missing, unreadable, or not a colorizer; the message says what to do."""


@contextlib.contextmanager
def quiet_jit():
    # Every torch.jit call warns that TorchScript is deprecated; we know, and a user of the CLI cannot act on it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\..*` is deprecated", category=DeprecationWarning)
        yield


def save_network(generator: torch.nn.Module, path: Path, info: dict) -> None:
    """Scripts generator (in eval mode) and writes it with info to path. Not atomic: see model.files.

    Weights are stored as float16, which halves the file; load_network casts them to the precision it is asked
    for (float32: outputs move by at most 3e-4 from the checkpoint's; bfloat16: see default_precision).
    """
    version = ENCODER_FORMAT if "architecture" in generator.spec else FORMAT_VERSION
    # An ImageNet encoder runs in float32 whatever the rest does (model.efficientnet.EfficientNetLite0.forward).
    encoder = {"encoder_precision": "float32"} if hasattr(generator, "imagenet") else {}
    info = {"format": version, "stride": int(generator.stride), "storage": "float16", **encoder,
            "generator": generator.spec, **info}
    with quiet_jit():
        scripted = torch.jit.script(copy.deepcopy(generator).eval().half())
        torch.jit.save(scripted, str(path), _extra_files={INFO_FILE: json.dumps(info, indent=2)})


def valid_chroma_gain(gain) -> bool:
    """A chroma gain a weights file may carry: a number above 0 and at most MAX_CHROMA_GAIN."""
    return not isinstance(gain, bool) and isinstance(gain, (int, float)) and 0 < gain <= MAX_CHROMA_GAIN


PRECISIONS = ("float32", "bfloat16")


def default_precision(device: str | torch.device = "cpu") -> str:
    """bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX): about 2x faster, ab within 0.5 units.
    float32 elsewhere, and on GPUs, where the network is fast anyway."""
    if torch.device(device).type != "cpu":
        return "float32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: be safe
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def load_network(path: Path, device: str | torch.device = "cpu",
                 precision: str = "float32") -> tuple[torch.jit.ScriptModule, dict]:
    """path -> (network in eval mode, frozen for inference, taking and giving `precision`; its info dict).
    Raises WeightsError."""
    network, info, *_ = load_network_and_encoder(path, device, precision)
    return network, info


def copied_in(levels: FirstLevels, dtype: torch.dtype) -> FirstLevels:
    """A copy of an encoder's first levels with its weights in dtype (the network's own stay as they are)."""
    with warnings.catch_warnings():  # copying a scripted module reads each parameter's .grad
        warnings.filterwarnings("ignore", message=r"The \.grad attribute", category=UserWarning)
        return copy.deepcopy(levels).to(dtype)


def frozen(levels: FirstLevels) -> torch.jit.ScriptModule:
    """An encoder's first levels scripted and frozen, in the dtype of their weights."""
    with quiet_jit():
        return torch.jit.freeze(torch.jit.script(levels).eval())


class OnFirstCall:
    """A module made the first time it is called, once, also when threads call it at the same time: what only
    some processes need (the film encoder: a process that colorizes only photos never makes it)."""

    def __init__(self, make: Callable[[], torch.nn.Module]):
        self._make, self._module, self._lock = make, None, threading.Lock()

    @property
    def made(self) -> bool:
        return self._module is not None

    def __call__(self, *args):
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module, self._make = self._make(), None
        return self._module(*args)


def load_network_and_encoder(path: Path, device: str | torch.device = "cpu", precision: str = "float32"
                             ) -> tuple[torch.jit.ScriptModule, dict, torch.jit.ScriptModule | None,
                                        OnFirstCall | None]:
    """As load_network, and the network's ImageNet encoder on its own to its MATCH_LEVELS-th level, frozen: in
    float32 (model.reference matches photos with its features), and in bfloat16 when that is the precision, for a
    film's memory of its own keyframes (they are only compared with each other, and it is twice as fast; matching
    a photo to a reference lost accuracy in bfloat16), made the first time a film calls it, else None; both None
    for a file without one (formats 1 and 2). Read from the same file, once."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}: pass the path of a colorizer .pt file "
                           f"(the repository ships one at weights/colorizer.pt), or train and export your own")
    extra = {INFO_FILE: ""}
    try:
        with quiet_jit():
            network = torch.jit.load(str(path), map_location=device, _extra_files=extra)
            network = network.to(getattr(torch, precision))  # stored as float16 to halve the file
            if json.loads(extra[INFO_FILE] or "{}").get("encoder_precision") == "float32":
                network.imagenet.float()  # the ImageNet encoder stays float32 (EfficientNetLite0.forward)
            encoder = film_encoder = None
            if hasattr(network, "imagenet"):  # frozen on its own before the whole is: freezing inlines it
                levels = FirstLevels(network.imagenet, MATCH_LEVELS)
                exact = levels if all(p.dtype == torch.float32 for p in levels.parameters()) else \
                    copied_in(levels, torch.float32)
                encoder = frozen(exact)
                if precision == "bfloat16":  # frozen when a film first needs it: photos never do (0.1 s a load)
                    film_levels = copied_in(levels, torch.bfloat16)  # its own copy: 0.7M parameters
                    film_encoder = OnFirstCall(lambda: frozen(film_levels))
            network = torch.jit.freeze(network.eval())  # folds batch norm into the convolutions
    except Exception as error:  # torch raises RuntimeError, ValueError and others for broken files
        raise unreadable(path, error) from None
    try:
        info = json.loads(extra[INFO_FILE])
        stride = int(info["stride"])
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{path} is TorchScript but not a colorizer exported by training.export "
                           f"(no valid {INFO_FILE} inside)") from None
    if info.get("format") not in READABLE_FORMATS:
        raise WeightsError(f"{path} has weights format {info.get('format')!r}; this version reads formats "
                           f"{', '.join(map(str, READABLE_FORMATS))}")
    for key, flag in (("chroma_gain", "--chroma-gain"), ("repaired_chroma_gain", "--repaired-gain")):
        gain = info.get(key, 1.0)
        if not valid_chroma_gain(gain):
            raise WeightsError(f"{path} has {key} {gain!r} in its {INFO_FILE}; it must be a number above 0 and "
                               f"at most {MAX_CHROMA_GAIN}: export it again with a valid {flag}")
    scale = info.get("points_edge_scale", EDGE_SCALE)
    if not valid_edge_scale(scale):
        raise WeightsError(f"{path} has points_edge_scale {scale!r} in its {INFO_FILE}; it must be a number above 0 "
                           f"and at most {MAX_EDGE_SCALE:g}: export it again with a valid --points-edge-scale")
    size = info.get("working_size")
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise WeightsError(f"{path} has working_size {size!r} in its {INFO_FILE}; it must be a whole number from "
                           f"{MIN_SIZE} to {MAX_SIZE}: export it again with a valid --working-size")
    _check_runs(network, stride, takes_hints(info), device, getattr(torch, precision), path)
    return network, info, encoder, film_encoder


def takes_hints(info: dict) -> bool:
    """Whether the network of a weights file with this info reads a hint layer."""
    return info["format"] >= 2


def _check_runs(network, stride: int, hints: bool, device, dtype: torch.dtype, path: Path) -> None:
    """A file can be valid TorchScript and still the wrong network: try it once on a tiny input (and hint layer)."""
    probe = torch.zeros(1, 1, stride * 2, stride * 2, device=device, dtype=dtype)
    try:
        with torch.inference_mode():
            out = network(probe, torch.zeros(1, 3, stride * 2, stride * 2, device=device, dtype=dtype)) if hints \
                else network(probe)
    except Exception as error:
        raise WeightsError(f"{path} does not run as a colorizer: {type(error).__name__}: {error}") from None
    if tuple(out.shape) != (1, 2, stride * 2, stride * 2):
        raise WeightsError(f"{path} gives output of shape {tuple(out.shape)}, a colorizer gives (1, 2, H, W)")


def read_state(path: Path) -> tuple[dict, dict]:
    """A weights file -> (its info dict, the network's state dict as stored), for training to start from.
    Raises WeightsError."""
    extra = {INFO_FILE: ""}
    try:
        with quiet_jit():
            state = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).state_dict()
        info = json.loads(extra[INFO_FILE])
    except Exception as error:
        raise unreadable(path, error) from None
    return info, dict(state)


def unreadable(path: Path, error: Exception) -> WeightsError:
    """The error for a file that torch.jit.load (or its colorizer.json) could not read, saying the likely causes."""
    return WeightsError(f"cannot read the weights file {path} ({type(error).__name__}): it is truncated, corrupt or "
                        f"not TorchScript, or was written by a newer torch than this one ({torch.__version__}; "
                        f"requirements.txt names the one this project uses); re-download it, export it again or "
                        f"install that torch")


def is_torchscript(path: Path) -> bool:
    """Whether path is a TorchScript archive (a weights file) rather than a torch.save file (a checkpoint)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
