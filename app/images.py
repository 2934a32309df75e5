"""Decode and check an upload before any pixel is decoded. All in memory."""
import io
import warnings

from PIL import Image, UnidentifiedImageError

from model.formats import NAMES, PILLOW_FORMATS

MAX_SIDE = 65_500  # pixels: JPEG, the default result, holds at most 65,535 a side: a longer photo could not be sent


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
        image = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own guard, for sizes far past any sane limit
        raise UploadError(413, f"The image is too large: it declares hundreds of megapixels; "
                               f"the limit is {max_pixels / 1e6:.0f}.")
    except UnidentifiedImageError:
        raise UploadError(415, f"This file is not an image we can read. Send a {NAMES}.")
    except Exception:  # Pillow raises many kinds for headers it identifies but cannot parse
        raise UploadError(400, "The image's header is damaged: the file cannot be decoded.")
    width, height = image.size
    if width < 1 or height < 1:
        raise UploadError(400, "The image has no pixels.")
    if width * height > max_pixels:
        raise UploadError(413, f"The image is too large: {width} x {height} pixels is {width * height / 1e6:.0f} "
                               f"megapixels; the limit is {max_pixels / 1e6:.0f}.")
    if max(width, height) > MAX_SIDE:
        raise UploadError(413, f"The image is too large: {width} x {height} pixels; a side may be at most "
                               f"{MAX_SIDE:,} pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Exception:  # truncated data, corrupt streams, decoder errors
        raise UploadError(400, "The image is damaged or truncated: it could not be decoded.")
    return image
