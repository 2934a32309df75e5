"""The one owner of the CIE Lab maths and of the network's normalization.

Training and serving both import from here, so the two cannot drift apart. The conversion follows
scikit-image (sRGB, D65 white, 2 degree observer) in float32 torch, which is several times faster than
scikit-image's float64 numpy and agrees with it to about 1e-4.

Layout: torch functions take channels at dim -3, so (3, H, W) and (B, 3, H, W) both work;
numpy functions take channels last, (H, W, 3), like scikit-image.
"""
import functools

import cv2
import numpy as np
import torch

# Network normalization (pix2pix-style, for a tanh head): L in [0, 100] -> [-1, 1], ab in about [-110, 110] -> [-1, 1].
L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0

# sRGB primaries to CIE XYZ, and the D65 reference white: the values scikit-image uses.
_XYZ_FROM_RGB = torch.tensor(
    [[0.412453, 0.357580, 0.180423],
     [0.212671, 0.715160, 0.072169],
     [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_RGB_FROM_WHITE_XYZ = _RGB_FROM_XYZ * _WHITE[None, :]  # linear RGB from XYZ / white: f's inverse feeds it directly
_EPSILON = 0.008856  # CIE: below this, f(t) is linear
_KAPPA = 7.787


def normalize_l(l: torch.Tensor) -> torch.Tensor:
    return l / L_SCALE - L_CENTER / L_SCALE


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    return (l_norm + L_CENTER / L_SCALE) * L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    return ab_norm * AB_SCALE


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.04045, ((c + 0.055) / 1.055).clamp(min=0).pow(2.4), c / 12.92)


# The root branches clamp their input to where they apply: the same values, and a finite gradient on the other
# side too (torch.where multiplies the unused branch's gradient by 0, and 0 * inf, at a root of 0, is NaN).
def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.0031308, 1.055 * c.clamp(min=0.0031308).pow(1 / 2.4) - 0.055, 12.92 * c)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPSILON, t.clamp(min=_EPSILON).pow(1 / 3), _KAPPA * t + 16 / 116)


def _f_inverse(f: torch.Tensor) -> torch.Tensor:
    cube = f.pow(3)
    return torch.where(cube > _EPSILON, cube, (f - 16 / 116) / _KAPPA)


def _rgb_to_lab_last(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) sRGB in [0, 1] -> (..., 3) Lab."""
    matrix = (_XYZ_FROM_RGB / _WHITE[:, None]).to(rgb)  # divide by white first: one matmul, no extra pass
    fx, fy, fz = _f(_srgb_to_linear(rgb) @ matrix.T).unbind(-1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-1)


def _lab_f(l: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lab -> (f(X / Xn), f(Y / Yn), f(Z / Zn)), elementwise."""
    fy = (l + 16) / 116
    # f(z) < 0 is impossible light: clip it to 0, as scikit-image does.
    return fy + a / 500, fy, (fy - b / 200).clamp(min=0)


def _lab_to_linear_last(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3) Lab -> (..., 3) linear RGB, not clipped: values outside [0, 1] are out of gamut."""
    f = torch.stack(_lab_f(*lab.unbind(-1)), dim=-1)
    return _f_inverse(f) @ _RGB_FROM_WHITE_XYZ.to(lab).T


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) Lab: L in [0, 100], ab roughly in [-110, 110]."""
    return _rgb_to_lab_last(rgb.movedim(-3, -1)).movedim(-1, -3)


def lab_to_rgb(lab: torch.Tensor, fit_gamut: bool = True) -> torch.Tensor:
    """(..., 3, H, W) Lab -> (..., 3, H, W) sRGB in [0, 1].

    With fit_gamut, a colour that sRGB cannot show keeps its L and hue and loses only as much chroma as it
    must: clipping the RGB instead would change the lightness, which the colorizer promises to keep.
    """
    lab_last = lab.movedim(-3, -1)
    linear = _lab_to_linear_last(lab_last)
    if fit_gamut:
        outside = _outside_gamut(linear)
        if bool(outside.any()):
            linear[outside] = _fit_chroma(lab_last[outside])
    return _linear_to_srgb(linear).clamp_(0, 1).movedim(-1, -3)


def _outside_gamut(linear: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Linear RGB with its channels at dim -> where any channel leaves [0, 1]."""
    # Tested on linear RGB: the sRGB curve is monotonic, so [0, 1] means the same before and after it.
    return ((linear < -_GAMUT_TOLERANCE) | (linear > 1 + _GAMUT_TOLERANCE)).any(dim=dim)


# How far outside [0, 1] a linear RGB channel may be and count as in gamut. Tight, because L is steep near black
# (L = 903 Y there): 1e-5 moves L by under 0.01.
_GAMUT_TOLERANCE = 1e-5
_GAMUT_LOW, _GAMUT_HIGH = (-_GAMUT_TOLERANCE,) * 3, (1 + _GAMUT_TOLERANCE,) * 3  # cv2.inRange's bounds


def _fit_chroma(lab: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """(N, 3) out-of-gamut Lab -> (N, 3) linear RGB of the largest chroma scale in [0, 1] that is in gamut."""
    return _fit_chroma_planes(*lab.unbind(1), iterations=iterations).T


def _fit_chroma_planes(l: torch.Tensor, a: torch.Tensor, b: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """L, a and b of N out-of-gamut colours -> (3, N) linear RGB of the largest chroma scale in [0, 1] in gamut.

    Bisection on the scale: 8 rounds find it to 1/256 of the chroma, finer than 8-bit output can show. On planes,
    with the lightness's part (Y) computed once: scaling a and b leaves it as it is.
    """
    fy = (l + 16) / 116
    y = _f_inverse(fy)
    matrix = _RGB_FROM_WHITE_XYZ.to(l.dtype)

    def linear(scale: torch.Tensor) -> torch.Tensor:
        x, z = _f_inverse(fy + scale * a / 500), _f_inverse((fy - scale * b / 200).clamp(min=0))
        return torch.stack([matrix[row, 0] * x + matrix[row, 1] * y + matrix[row, 2] * z for row in range(3)])

    lo = torch.zeros_like(l)  # scale 0 is gray, always in gamut
    hi = torch.ones_like(l)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        inside = ~_outside_gamut(linear(mid), dim=0)
        lo = torch.where(inside, mid, lo)
        hi = torch.where(inside, hi, mid)
    return linear(lo)


# 8-bit sRGB of linear values, on a grid of 2**16 steps: within one level of the exact rounding everywhere
# (off by one for about 1 value in 300, where the exact value lies next to a rounding edge), and 3x cheaper.
_LINEAR_STEPS = 1 << 16


@functools.cache
def _srgb8_of_linear() -> torch.Tensor:
    """The table, made on first use rather than at import: 65,537 values are enough for torch to start its
    thread pool, and a gunicorn master that imports this module (through its config) would then fork workers
    whose first multi-threaded torch call hangs."""
    return (_linear_to_srgb(torch.arange(_LINEAR_STEPS + 1, dtype=torch.float64) / _LINEAR_STEPS)
            .clamp(0, 1) * 255).round().to(torch.uint8)


def lab_to_srgb8(l: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Lab as three (H, W) float32 planes -> (H, W, 3) uint8 sRGB, the gamut fitted as lab_to_rgb fits it.

    The full-resolution path of the Colorizer, in NumPy and OpenCV (about twice as fast as the same sums in torch
    on one thread: OpenCV's matrix product and range test are vectorized and need no temporaries): no float sRGB
    in between, and a lookup table for the sRGB curve. Within one level of lab_to_rgb's rounded output.
    """
    l, a, b = (np.asarray(t.numpy(), dtype=np.float32) for t in (l, a, b))
    fy = (l + 16) / np.float32(116)
    linear = _linear_np(fy, _f_inverse_np(fy), a / np.float32(500), b / np.float32(200))  # (H, W, 3), not clipped
    outside = cv2.inRange(linear, _GAMUT_LOW, _GAMUT_HIGH) == 0
    if outside.any():
        linear[outside] = _fit_chroma_np(l[outside], a[outside], b[outside])
    np.multiply(linear, _LINEAR_STEPS, out=linear)
    np.clip(linear, 0, _LINEAR_STEPS, out=linear)
    np.rint(linear, out=linear)
    return torch.from_numpy(np.take(_srgb8_of_linear().numpy(), linear.astype(np.int32)))


_LINEAR_FROM_F_INVERSE = _RGB_FROM_WHITE_XYZ.float().numpy()


def _linear_np(fy: np.ndarray, y: np.ndarray, a_step: np.ndarray, b_step: np.ndarray) -> np.ndarray:
    """Lab as (H, W) planes of f(Y / Yn), Y / Yn, a / 500 and b / 200 -> (H, W, 3) linear RGB, not clipped
    (_lab_f and _lab_to_linear_last in NumPy and OpenCV)."""
    x = _f_inverse_np(fy + a_step)
    z = _f_inverse_np(np.maximum(fy - b_step, 0))  # f(z) < 0 is impossible light: clipped to 0, as in _lab_f
    return cv2.transform(cv2.merge([x, y, z]), _LINEAR_FROM_F_INVERSE)


def _fit_chroma_np(l: np.ndarray, a: np.ndarray, b: np.ndarray, iterations: int = 8) -> np.ndarray:
    """_fit_chroma_planes in NumPy and OpenCV, for N colours -> (N, 3) linear RGB: the same bisection, twice as
    fast (a photo of black and white texture can have a quarter of its pixels outside sRGB at some chroma)."""
    l, a, b = (plane[:, None] for plane in (l, a, b))  # (N, 1): OpenCV's N x 1 pixels
    fy = (l + 16) / np.float32(116)
    y = _f_inverse_np(fy)
    a_step, b_step = a / np.float32(500), b / np.float32(200)
    lo, hi = np.zeros_like(l), np.ones_like(l)  # scale 0 is gray, always in gamut
    for _ in range(iterations):
        mid = (lo + hi) * np.float32(0.5)
        inside = cv2.inRange(_linear_np(fy, y, mid * a_step, mid * b_step), _GAMUT_LOW, _GAMUT_HIGH) > 0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return _linear_np(fy, y, lo * a_step, lo * b_step)[:, 0]


def _f_inverse_np(f: np.ndarray) -> np.ndarray:
    """_f_inverse on float32 NumPy."""
    cube = f * f * f
    return np.where(cube > np.float32(_EPSILON), cube, (f - np.float32(16 / 116)) / np.float32(_KAPPA))


def gray_to_l(gray: torch.Tensor) -> torch.Tensor:
    """Gray sRGB values in [0, 1], any shape -> Lab L of the same shape (a = b = 0 for gray).

    Cheaper than rgb_to_lab on three equal channels, and identical: the Y row of the matrix sums to 1.
    """
    return 116 * _f(_srgb_to_linear(gray)) - 16


# Lookup tables for 8-bit input: exact, and much cheaper than the power functions per pixel.
_LINEAR_OF_8BIT = _srgb_to_linear(torch.arange(256, dtype=torch.float32) / 255)
_L_OF_GRAY_8BIT = 116 * _f(_LINEAR_OF_8BIT) - 16
_Y_OF_LINEAR = _XYZ_FROM_RGB[1].float()  # luminance Y from linear RGB; Lab L depends on Y alone


_L_OF_GRAY_8BIT_NP = _L_OF_GRAY_8BIT.numpy()


def lightness_of_uint8(gray: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(H, W) 8-bit gray -> (H, W) float32 Lab L, the same as rgb_to_lab's L. (A colour photo first becomes its
    gray of the same luminance: gray8_of_rgb8.) OpenCV's table lookup, on one thread: faster than torch's
    indexing, which first widens every pixel to 64 bits."""
    gray = np.ascontiguousarray(gray.numpy() if isinstance(gray, torch.Tensor) else gray, dtype=np.uint8)
    if gray.size == 0:
        return torch.zeros(gray.shape, dtype=torch.float32)
    return torch.from_numpy(cv2.LUT(gray, _L_OF_GRAY_8BIT_NP).reshape(gray.shape))


_Y_OF_8BIT = [(_LINEAR_OF_8BIT * weight).numpy() for weight in _Y_OF_LINEAR]  # each channel's share of Y


def gray8_of_rgb8(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """Three (H, W) uint8 sRGB planes -> (H, W) uint8 gray of the same luminance, so of the same Lab L (to half a
    level): a colour photo's own black-and-white version. Lookup tables, no power function per pixel."""
    luminance = np.take(_Y_OF_8BIT[0], red)
    luminance += np.take(_Y_OF_8BIT[1], green)
    luminance += np.take(_Y_OF_8BIT[2], blue)
    steps = np.minimum(luminance * _LINEAR_STEPS + 0.5, _LINEAR_STEPS).astype(np.int32)
    return np.take(_srgb8_of_linear().numpy(), steps)


def rgb_to_lab_np(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB, uint8 or float in [0, 1] -> float32 (..., 3) Lab, like skimage.color.rgb2lab."""
    rgb = torch.from_numpy(_as_unit_float(rgb))
    return _rgb_to_lab_last(rgb).numpy()


def lab_to_rgb_np(lab: np.ndarray, fit_gamut: bool = True) -> np.ndarray:
    """float (..., 3) Lab -> float32 (..., 3) sRGB in [0, 1], like skimage.color.lab2rgb."""
    lab = torch.from_numpy(np.asarray(lab, dtype=np.float32)).movedim(-1, -3)
    return lab_to_rgb(lab, fit_gamut=fit_gamut).movedim(-3, -1).numpy()


def fit_gamut_np(lab: np.ndarray) -> np.ndarray:
    """float (..., 3) Lab -> float32 (..., 3) Lab of the colour sRGB shows for it: the same L and hue, the chroma
    cut to what sRGB can show at that L (what lab_to_rgb and lab_to_srgb8 paint). In-gamut colours come back as
    they are, to about 1e-3."""
    lab = np.asarray(lab, dtype=np.float32)
    return rgb_to_lab_np(lab_to_rgb_np(lab.reshape(-1, 1, 3))).reshape(lab.shape)


def _as_unit_float(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255
    return np.asarray(rgb, dtype=np.float32)
