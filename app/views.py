"""GET / (the page), POST /colorize (the image back), GET /healthz."""
from pathlib import PurePath

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from app.images import OUTPUT_FORMATS, UploadError, decode_upload, encode
from model.colorizer import MAX_SIZE, MIN_SIZE

bp = Blueprint("colorizer", __name__)
# The page offers the model's own working size and two around it; the API takes any size in [MIN_SIZE, MAX_SIZE].
# Not more: a net asked to work far above the size it was made for paints streaks of false colour.
SIZE_FACTORS = (2 / 3, 1, 4 / 3)


@bp.get("/")
def index():
    return render_page(error=None)


@bp.post("/colorize")
def colorize():
    try:
        size, output_format, quality = parse_options(request.form)
        upload = request.files.get("image")
        if upload is None:
            raise UploadError(400, "No image was sent: post the file in a multipart form field named 'image'.")
        image = decode_upload(upload.read(), current_app.config["MAX_PIXELS"])
    except UploadError as error:
        return error_response(error.status, error.message)
    result = current_app.extensions["colorizer"](image, size=size)
    _, mimetype, extension = OUTPUT_FORMATS[output_format]
    name = safe_stem(upload.filename) + f"-color.{extension}"
    return Response(encode(result, output_format, quality), mimetype=mimetype,
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


@bp.get("/healthz")
def healthz():
    colorizer = current_app.extensions["colorizer"]
    info = colorizer.info
    return jsonify(status="ok", model={
        "sha256": colorizer.sha256, "working_size": colorizer.default_size, "parameters": info.get("parameters"),
        "precision": colorizer.precision,
        "exported": info.get("exported"), "training": {k: v for k, v in info.get("training", {}).items() if k != "config"},
    })


def error_response(status: int, message: str):
    """JSON for programs; the page with the message for a browser's plain form post (the page without JS)."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return render_page(error=message), status
    return jsonify(error=message), status


def render_page(error: str | None) -> str:
    """The page; its size menu offers the model's own working size, preselected, and a smaller and a larger one."""
    default = current_app.extensions["colorizer"].default_size
    sizes = sorted({min(MAX_SIZE, max(MIN_SIZE, 8 * round(default * factor / 8))) for factor in SIZE_FACTORS} | {default})
    return render_template("index.html", sizes=sizes, default_size=default, error=error)


def parse_options(form) -> tuple[int | None, str, int]:
    """The optional form fields -> (size, format, quality); 422 with a message for a value out of range."""
    size = bounded_int(form, "size", MIN_SIZE, MAX_SIZE, None)
    output_format = form.get("format", "jpeg").lower() or "jpeg"
    if output_format == "jpg":
        output_format = "jpeg"
    if output_format not in OUTPUT_FORMATS:
        raise UploadError(422, f"format must be jpeg or png, got '{output_format[:20]}'.")
    quality = bounded_int(form, "quality", 1, 100, current_app.config["DEFAULT_QUALITY"])
    return size, output_format, quality


def bounded_int(form, name: str, low: int, high: int, default):
    text = form.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UploadError(422, f"{name} must be a whole number from {low} to {high}, got '{text[:20]}'.") from None
    if not low <= value <= high:
        raise UploadError(422, f"{name} must be from {low} to {high}, got {value}.")
    return value


def safe_stem(filename: str | None) -> str:
    """A download name from the upload's name: letters, digits, '-' and '_' only, never a path."""
    stem = PurePath(filename or "photo").stem
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80].strip("_")
    return cleaned or "photo"
