"""GET / (the page), POST /colorize (the image back), GET /healthz."""
import json
import unicodedata
from pathlib import PurePath
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.images import UploadError, decode_upload
from app.jobs import BACKEND_ERRORS
from model.colorizer import MAX_SIZE, MIN_SIZE, RequestError
from model.formats import ACCEPT, NAMES, OUTPUT_ALIASES, OUTPUT_FORMATS, encode
from model.hints import points_shown

bp = Blueprint("colorizer", __name__)
# The page offers the model's own working size and two around it; the API takes any size in [MIN_SIZE, MAX_SIZE].
# Not more: a net asked to work far above the size it was made for paints streaks of false colour.
SIZE_FACTORS = (2 / 3, 1, 4 / 3)


@bp.get("/")
def index():
    return render_page(error=None)


@bp.post("/colorize")
def colorize():
    colorizer = current_app.extensions["colorizer"]
    form = request.form
    try:
        output_format, quality = parse_output(form)
        raw_hints = parse_hints_field(form.get("hints", ""))
        upload = request.files.get("image")
        if upload is None:
            raise UploadError(400, "No image was sent: post the file in a multipart form field named 'image'.")
        image = decode_upload(upload_bytes(upload), current_app.config["MAX_PIXELS"])
        reference = decode_reference(request.files.get("reference"))
        # Every rule about what may be asked of the image is the Colorizer's (model.request); hints parsed once.
        wanted = colorizer.check(image, size=form.get("size"), vividness=form.get("vividness"),
                                 restore=form.get("restore"), hints=raw_hints, reference=reference, text=True)
    except UploadError as error:
        return error_response(error.status, error.message)
    except RequestError as error:
        return error_response(422, f"{error}.")
    result = colorizer.colorize(image, wanted)
    share = result.info.pop("reference_share", None)
    repair = result.info.pop("repair", None)
    _, mimetype, extension = OUTPUT_FORMATS[output_format]
    headers = {"Content-Disposition": content_disposition(safe_stem(upload.filename), f"-color.{extension}"),
               "Cache-Control": "no-store"}
    if wanted.hints:  # what each point asked and what the result shows there (sRGB cannot show every colour at every L)
        headers["X-Colorizer-Points"] = json.dumps(points_shown(result, wanted.hints, [h["color"] for h in raw_hints]))
    if share is not None:  # the part of the photo whose colours came from the reference, 0 to 1
        headers["X-Colorizer-Reference"] = f"{share:.2f}"
    if repair is not None:  # what the repair did (model.restore.summary); absent with restore=off
        headers["X-Colorizer-Repair"] = json.dumps(repair)
    return Response(encode(result, output_format, quality), mimetype=mimetype, headers=headers)


@bp.get("/healthz")
def healthz():
    colorizer = current_app.extensions["colorizer"]
    info = colorizer.info
    try:  # processes running video jobs that announced themselves lately (app/jobs.py)
        workers = current_app.extensions["jobs"].live_workers()
    except BACKEND_ERRORS:
        workers = None  # the queue's storage cannot be reached just now
    return jsonify(status="ok", video_workers=workers, model={
        "sha256": colorizer.sha256, "working_size": colorizer.default_size, "parameters": info.get("parameters"),
        "precision": colorizer.precision, "hints": colorizer.takes_hints, "reference": colorizer.matcher is not None,
        "exported": info.get("exported"), "training": {k: v for k, v in info.get("training", {}).items() if k != "config"},
    })


class TooManyParts(RequestEntityTooLarge):
    """A multipart form of more parts than werkzeug parses (max_form_parts): a 413 of its own words, since the
    bytes were within the limit."""

    def __init__(self, parts: int):
        super().__init__(f"The form has more than {parts:,} parts; send the file and the few fields the API "
                         f"takes.")


def error_response(status: int, message: str):
    """JSON for programs; the page with the message for a browser's plain form post (the page without JS)."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return render_page(error=message), status
    return jsonify(error=message), status


def render_page(error: str | None) -> str:
    """The page; its size menu offers the model's own working size, preselected, and a smaller and a larger one."""
    colorizer = current_app.extensions["colorizer"]
    default = colorizer.default_size
    sizes = sorted({min(MAX_SIZE, max(MIN_SIZE, 8 * round(default * factor / 8))) for factor in SIZE_FACTORS} | {default})
    return render_template("index.html", sizes=sizes, default_size=default, error=error, accept=ACCEPT,
                           format_names=NAMES, hints=colorizer.takes_hints, max_hints=current_app.config["MAX_HINTS"],
                           reference=colorizer.matcher is not None)


def parse_output(form) -> tuple[str, int]:
    """The optional output fields -> (format, JPEG quality); 422 with a message for a value out of range."""
    output_format = form.get("format", "jpeg").strip().lower() or "jpeg"
    output_format = OUTPUT_ALIASES.get(output_format, output_format)
    if output_format not in OUTPUT_FORMATS:
        raise UploadError(422, f"format must be jpeg or png, got '{output_format[:20]}'.")
    return output_format, bounded_int(form, "quality", 1, 100, current_app.config["DEFAULT_QUALITY"])


def parse_hints_field(text: str) -> list:
    """The hints form field: a JSON array of {"x", "y", "color"} points. The points themselves are checked by the
    Colorizer once the image's size is known; here, the JSON, its length and the server's limit on points."""
    limit, most = current_app.config["MAX_HINTS_CHARS"], current_app.config["MAX_HINTS"]
    if not text.strip():
        return []
    if len(text) > limit:
        raise UploadError(422, f"hints is {len(text):,} characters long; the limit is {limit:,}.")
    try:
        hints = json.loads(text, parse_constant=reject_constant)
    except ValueError as error:
        raise UploadError(422, f"hints is not valid JSON: {error}.") from None
    except RecursionError:  # arrays nested thousands deep fit in the length limit
        raise UploadError(422, "hints is nested too deeply: it must be a flat JSON array of points.") from None
    if not isinstance(hints, list):
        raise UploadError(422, 'hints must be a JSON array of points, such as [{"x": 120, "y": 80, '
                               '"color": "#c02020"}].')
    if len(hints) > most:
        raise UploadError(422, f"hints has {len(hints)} points; the limit is {most}.")
    return hints


def reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


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
    """A download name from the upload's name: letters (any script), digits, '-' and '_' only, never a path."""
    stem = PurePath(filename or "photo").stem
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80].strip("_")
    return cleaned or "photo"


def content_disposition(stem: str, suffix: str) -> str:
    """The header for the download name stem + suffix (stem from safe_stem, in any script): the name itself as
    RFC 6266's filename* (UTF-8, percent-encoded), which browsers prefer, and an ASCII fallback for the others.
    A raw non-ASCII byte in a header is invalid (gunicorn refuses to send it)."""
    if stem.isascii():
        return f'inline; filename="{stem}{suffix}"'
    fallback = safe_stem(unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii"))
    return f"inline; filename=\"{fallback}{suffix}\"; filename*=UTF-8''{quote(stem + suffix, safe='')}"


def decode_reference(upload):
    """The optional reference field: a colour photo, decoded and checked as the image is, its errors naming the
    field; None when it was not sent (or sent empty, as a form's file input left empty is)."""
    if upload is None:
        return None
    data = upload_bytes(upload)
    if not data and not upload.filename:
        return None
    try:
        return decode_upload(data, current_app.config["MAX_PIXELS"])
    except UploadError as error:
        raise UploadError(error.status, f"reference (the colour photo to take colours from): {error.message}") from None


def upload_bytes(upload) -> bytes:
    """The uploaded file's bytes; the app's requests keep uploads in memory (app.InMemoryRequest), so no copy."""
    stream = upload.stream
    return stream.getvalue() if hasattr(stream, "getvalue") else upload.read()
