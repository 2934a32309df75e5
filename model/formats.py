"""The image formats this project reads, in one place: the API's decoders, the page's file picker, the command
line's and training's file extensions, and the words that name them in messages.

Pillow reads more formats than these, but each extra decoder is attack surface for the server. HEIC (the default
of iPhone cameras) comes from the pillow-heif package, registered here when it is installed; without it HEIC is
left out of every list, so no message promises it.
"""
import io

from PIL import Image

try:
    import pillow_heif
except ImportError:  # an optional extra: everything else works without it
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

# Pillow format name -> (file extensions, MIME types, the name people know it by)
_FORMATS = {
    "JPEG": ((".jpg", ".jpeg", ".jpe", ".jfif"), ("image/jpeg",), "JPEG"),  # cameras' multi-picture MPO included
    "PNG": ((".png",), ("image/png",), "PNG"),
    "WEBP": ((".webp",), ("image/webp",), "WebP"),
    "AVIF": ((".avif",), ("image/avif",), "AVIF"),
    "HEIF": ((".heic", ".heif"), ("image/heic", "image/heif"), "HEIC"),
    "GIF": ((".gif",), ("image/gif",), "GIF (the first frame)"),
    "BMP": ((".bmp",), ("image/bmp",), "BMP"),
    "TIFF": ((".tif", ".tiff"), ("image/tiff",), "TIFF"),
}
if pillow_heif is None:
    del _FORMATS["HEIF"]

PILLOW_FORMATS = tuple(_FORMATS)  # for Image.open(..., formats=PILLOW_FORMATS)
EXTENSIONS = frozenset(extension for extensions, _, _ in _FORMATS.values() for extension in extensions)
# The page's <input accept>: MIME types and extensions both, since browsers know no MIME type for some (HEIC).
ACCEPT = ",".join([mime for _, mimes, _ in _FORMATS.values() for mime in mimes] + sorted(EXTENSIONS))
_NAMES = [name for _, _, name in _FORMATS.values()]
NAMES = ", ".join(_NAMES[:-1]) + " or " + _NAMES[-1]  # "JPEG, PNG, ... or TIFF", for messages


# What we write: the name a request or the command line uses -> (Pillow format, MIME type, file extension)
OUTPUT_FORMATS = {"jpeg": ("JPEG", "image/jpeg", "jpg"), "png": ("PNG", "image/png", "png")}
OUTPUT_ALIASES = {"jpg": "jpeg"}
DEFAULT_QUALITY = 90  # JPEG quality of results, on the server and on the command line


def encode(image, output_format: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """A PIL image -> the bytes of a file in output_format ("jpeg" or "png"). PNG keeps an alpha channel; JPEG has
    none, so an image with one is written as it shows on a white page."""
    pil_format = OUTPUT_FORMATS[output_format][0]
    if pil_format == "JPEG" and image.mode in ("RGBA", "LA"):
        background = Image.new(image.mode[:-1], image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    buffer = io.BytesIO()
    options = {"quality": quality, "optimize": False} if pil_format == "JPEG" else {"compress_level": 3}
    image.save(buffer, pil_format, **options)
    return buffer.getvalue()


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the extensions we read (any case)."""
    return any(name.lower().endswith(extension) for extension in EXTENSIONS)
