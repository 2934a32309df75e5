"""Decode and check an upload before any pixel is decoded; encode the result. All in memory."""
import io
import warnings

from PIL import Image, UnidentifiedImageError

# The formats we read: the common photo formats. Pillow reads more, but each extra decoder is attack surface.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO, the multi-picture JPEG of cameras
OUTPUT_FORMATS = {"jpeg": ("JPEG", "image/jpeg", "jpg"), "png": ("PNG", "image/png", "png")}


class UploadError(Exception):
    """A problem with what the user sent: status is the HTTP status, the message is for a person."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """Upload bytes -> a decoded PIL image (first frame). Raises UploadError with the right status.

    The declared size is checked from the header alone, before decoding, so a small file that claims
    billions of pixels costs nothing.
    """
    if not data:
        raise UploadError(400, "The uploaded file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:  # Pillow's own guard, for sizes far past any sane limit
        raise UploadError(413, f"The image is too large: it declares hundreds of megapixels; "
                               f"the limit is {max_pixels / 1e6:.0f}.")
    except UnidentifiedImageError:
        raise UploadError(415, "This file is not an image we can read. Send a JPEG, PNG, WebP, GIF, BMP or TIFF.")
    except Exception:  # Pillow raises many kinds for headers it identifies but cannot parse
        raise UploadError(400, "The image's header is damaged: the file cannot be decoded.")
    width, height = image.size
    if width < 1 or height < 1:
        raise UploadError(400, "The image has no pixels.")
    if width * height > max_pixels:
        raise UploadError(413, f"The image is too large: {width} x {height} pixels is {width * height / 1e6:.0f} "
                               f"megapixels; the limit is {max_pixels / 1e6:.0f}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Exception:  # truncated data, corrupt streams, decoder errors
        raise UploadError(400, "The image is damaged or truncated: it could not be decoded.")
    return image


def encode(image: Image.Image, output_format: str, quality: int) -> bytes:
    pil_format, _, _ = OUTPUT_FORMATS[output_format]
    buffer = io.BytesIO()
    options = {"quality": quality, "optimize": False} if pil_format == "JPEG" else {"compress_level": 3}
    image.save(buffer, pil_format, **options)
    return buffer.getvalue()
