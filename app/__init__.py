"""The web app: an upload page, POST /colorize and GET /healthz.

    create_app()                       # settings from COLORIZER_* environment variables
    create_app({"WEIGHTS": "x.pt"})    # settings from a dict (tests)

The Colorizer is loaded once, here, and shared by every request through app.extensions["colorizer"].
"""
import io
import os

import torch
from flask import Flask, Request
from werkzeug.exceptions import HTTPException

from app.views import bp, error_response
from model.colorizer import Colorizer
from model.formats import DEFAULT_QUALITY
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError

DEFAULTS = {
    "WEIGHTS": str(DEFAULT_WEIGHTS),  # the weights file to serve
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,  # bytes per request; larger uploads get 413 before they are read
    "MAX_PIXELS": 25_000_000,  # declared width x height of an upload; checked before decoding
    "DEFAULT_QUALITY": DEFAULT_QUALITY,  # JPEG quality of the result unless the request asks otherwise
    "MAX_HINTS": 64,  # colour points per request
    "MAX_HINTS_CHARS": 16384,  # characters of the hints field: its JSON is refused unread beyond this
    "TORCH_THREADS": 0,  # torch threads per process; 0 leaves torch's default (all cores)
    "PRECISION": "auto",  # float32 or bfloat16; auto: bfloat16 where the CPU computes it natively (about 2x faster)
}


class InMemoryRequest(Request):
    """Keeps uploads in memory. Werkzeug spools files over 500 KB to disk; MAX_CONTENT_LENGTH bounds memory."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class StartupError(RuntimeError):
    """The app cannot start; the message says what to do."""


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder=page_files("templates"), static_folder=page_files("static"))
    app.request_class = InMemoryRequest
    app.config.from_mapping(DEFAULTS)
    if config is None:
        app.config.from_prefixed_env("COLORIZER")  # COLORIZER_WEIGHTS=..., COLORIZER_MAX_PIXELS=...
    else:
        app.config.update(config)

    check_settings(app.config)
    if app.config["TORCH_THREADS"]:
        torch.set_num_threads(int(app.config["TORCH_THREADS"]))
    precision = app.config["PRECISION"]
    try:
        app.extensions["colorizer"] = Colorizer.load(app.config["WEIGHTS"],
                                                     precision=None if precision == "auto" else precision)
    except WeightsError as error:
        raise StartupError(f"cannot start the colorizer: {error}. Set COLORIZER_WEIGHTS to a weights file.") from None

    app.register_blueprint(bp)
    app.after_request(security_headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {413: f"The upload is too large: the limit is {app.config['MAX_CONTENT_LENGTH'] / 2**20:g} MiB."}
        return error_response(error.code or 500, messages.get(error.code, error.description))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unexpected error")
        return error_response(500, "Something went wrong on our side; the error is logged.")

    return app


# Settings that must be whole numbers, and their least value.
WHOLE_NUMBERS = {"MAX_CONTENT_LENGTH": 1, "MAX_PIXELS": 1, "TORCH_THREADS": 0, "MAX_HINTS": 0, "MAX_HINTS_CHARS": 2}


def check_settings(config) -> None:
    """Refuses, at startup and naming the variable, a setting that would make every request fail later."""
    for name, least in WHOLE_NUMBERS.items():
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise StartupError(f"cannot start the colorizer: COLORIZER_{name} must be a whole number of at least "
                               f"{least}, got {value!r}")
    quality = config["DEFAULT_QUALITY"]
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise StartupError(f"cannot start the colorizer: COLORIZER_DEFAULT_QUALITY must be from 1 to 100, "
                           f"got {quality!r}")
    if config["PRECISION"] not in (None, "auto", *PRECISIONS):
        raise StartupError(f"cannot start the colorizer: COLORIZER_PRECISION must be auto, float32 or bfloat16, "
                           f"got {config['PRECISION']!r}")


def page_files(name: str) -> str:
    """templates/ or static/: inside this package once installed (pip install .), at the repository's top level
    in a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, name)
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), name)


def security_headers(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response
