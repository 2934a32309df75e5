"""The web app: an upload page, POST /colorize, GET /healthz, and video jobs under /videos (app/videos.py).

    create_app()                       # settings from COLORIZER_* environment variables
    create_app({"WEIGHTS": "x.pt"})    # settings from a dict (tests)
    create_app(start_jobs=False)       # nothing started: `python -m app.worker` starts its own threads

The Colorizer is loaded once, here, and shared by every request through app.extensions["colorizer"]; the video
jobs' queue (app/jobs.py) is app.extensions["jobs"], handed its work as a plain callable (app.videos.make_work).
Its threads start with the app, in its init_app: the process's JOB_THREADS worker threads and the sweeper, so that
queued jobs run and expired ones are removed after a restart whether or not anyone calls /videos. The process's
cores are shared between torch, OpenCV and the video codec once, here (model.threads).
"""
import io
import os
import sqlite3
import tempfile
from pathlib import Path

from flask import Flask, Request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.jobs import Jobs, JobSettings, prepare_folder
from app.videos import bp as videos_bp, make_work
from app.views import TooManyParts, bp, error_response
from model.colorizer import Colorizer
from model.damage import DetectorError, shipped_detector
from model.formats import DEFAULT_QUALITY
from model.threads import share_cores
from model.weights import DEFAULT_WEIGHTS, PRECISIONS, WeightsError

DEFAULTS = {
    "WEIGHTS": str(DEFAULT_WEIGHTS),  # the weights file to serve
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,  # bytes per request; larger uploads get 413 before they are read
    "MAX_PIXELS": 25_000_000,  # declared width x height of an upload; checked before decoding
    "DEFAULT_QUALITY": DEFAULT_QUALITY,  # JPEG quality of the result unless the request asks otherwise
    "MAX_HINTS": 64,  # colour points per request
    "MAX_HINTS_CHARS": 16384,  # characters of the hints field: its JSON is refused unread beyond this
    "TORCH_THREADS": 0,  # torch threads per process; 0: the process's cores (OpenCV and the codec get half as many)
    "PRECISION": "auto",  # float32 or bfloat16; auto: bfloat16 where the CPU computes it natively (about 2x faster)
    # Video jobs (app/jobs.py, app/videos.py)
    "REDIS_URL": "",  # "": the embedded queue (SQLite in JOB_FOLDER); redis://host:6379/0: Redis, for many machines
    "JOB_FOLDER": "",  # uploads and results (and the embedded queue); "": <temp dir>/colorizer-jobs-<uid>
    "JOB_THREADS": "auto",  # worker threads in each web process; auto: 1 with the embedded queue, 0 with Redis
    "JOB_TTL": 3600,  # seconds a job and its result are kept after it ended
    "JOB_LEASE": 60,  # seconds without news from a running job's worker before it is started again
    "JOB_ATTEMPTS": 2,  # starts of a job whose worker keeps dying before it is reported failed
    "JOB_TIMEOUT": 6 * 3600,  # seconds of work on one video before it is stopped and failed
    "MAX_QUEUED": 20,  # videos waiting; more get 503
    "MAX_VIDEO_BYTES": 512 * 1024 * 1024,  # per upload (10 minutes of 480p are 100 to 300 MB)
    "MAX_VIDEO_SECONDS": 1200,  # duration of a video
    "MAX_VIDEO_PIXELS": 1920 * 1080,  # width x height of a video's frames, each checked as it is decoded
    "MAX_VIDEO_FRAMES": 36_000,  # frames of a video (20 minutes at 30 a second), checked again as it is decoded
    "VIDEO_FUNCTION": "model.video:colorize_video",  # the work; tests point it elsewhere
}


class InMemoryRequest(Request):
    """Keeps uploads in memory. Werkzeug spools files over 500 KB to disk; MAX_CONTENT_LENGTH bounds memory.

    A view that sets `upload_folder` (POST /videos: the job's own folder) gets its files streamed there instead.
    """
    upload_folder: Path | None = None

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        if self.upload_folder is not None:
            return tempfile.NamedTemporaryFile(dir=self.upload_folder, prefix="upload-", delete=False)
        return io.BytesIO()

    def _load_form_data(self) -> None:
        """werkzeug answers too many form parts with the same 413 as too many bytes; its multipart decoder
        (werkzeug/sansio/multipart.py) raises it only for the parts, so a 413 from there says so."""
        try:
            super()._load_form_data()
        except RequestEntityTooLarge as error:
            trace = error.__traceback__
            while trace.tb_next is not None:
                trace = trace.tb_next
            if trace.tb_frame.f_code.co_filename.replace(os.sep, "/").endswith("werkzeug/sansio/multipart.py"):
                raise TooManyParts(self.max_form_parts) from None
            raise


class StartupError(RuntimeError):
    """The app cannot start; the message says what to do."""


def create_app(config: dict | None = None, *, start_jobs: bool = True) -> Flask:
    app = Flask(__name__, template_folder=page_files("templates"), static_folder=page_files("static"))
    app.request_class = InMemoryRequest
    app.config.from_mapping(DEFAULTS)
    if config is None:
        app.config.from_prefixed_env("COLORIZER")  # COLORIZER_WEIGHTS=..., COLORIZER_MAX_PIXELS=...
    else:
        app.config.update(config)

    check_settings(app.config)
    share_cores(int(app.config["TORCH_THREADS"]))
    precision = app.config["PRECISION"]
    try:
        app.extensions["colorizer"] = Colorizer.load(app.config["WEIGHTS"],
                                                     precision=None if precision == "auto" else precision)
    except WeightsError as error:
        raise StartupError(f"cannot start the colorizer: {error}. Set COLORIZER_WEIGHTS to a weights file.") from None
    try:
        shipped_detector()  # repair's damage detector, loaded now rather than by the first request that needs it
    except DetectorError as error:
        raise StartupError(f"cannot start the colorizer: {error}") from None
    jobs = make_jobs(app.config, app.extensions["colorizer"])

    app.register_blueprint(bp)
    app.register_blueprint(videos_bp)
    app.after_request(security_headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, TooManyParts):
            return error_response(413, error.description)
        messages = {413: f"The upload is too large: the limit is {app.config['MAX_CONTENT_LENGTH'] / 2**20:g} MiB."}
        return error_response(error.code or 500, messages.get(error.code, error.description))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unexpected error")
        return error_response(500, "Something went wrong on our side; the error is logged.")

    jobs.init_app(app, start=start_jobs)
    return app


# Settings that must be whole numbers, and their least value.
WHOLE_NUMBERS = {"MAX_CONTENT_LENGTH": 1, "MAX_PIXELS": 1, "TORCH_THREADS": 0, "MAX_HINTS": 0, "MAX_HINTS_CHARS": 2,
                 "JOB_TTL": 1, "JOB_LEASE": 1, "JOB_ATTEMPTS": 1, "JOB_TIMEOUT": 1, "MAX_QUEUED": 1,
                 "MAX_VIDEO_BYTES": 1, "MAX_VIDEO_SECONDS": 1, "MAX_VIDEO_PIXELS": 1, "MAX_VIDEO_FRAMES": 1}


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
    threads = config["JOB_THREADS"]
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise StartupError(f"cannot start the colorizer: COLORIZER_JOB_THREADS must be auto or a whole number of at "
                           f"least 0, got {threads!r}")
    url = config["REDIS_URL"]
    if not isinstance(url, str) or url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise StartupError(f"cannot start the colorizer: COLORIZER_REDIS_URL must be empty (the embedded queue) or "
                           f"a redis://, rediss:// or unix:// address, got {url!r}")
    if not isinstance(config["JOB_FOLDER"], str):
        raise StartupError(f"cannot start the colorizer: COLORIZER_JOB_FOLDER must be a folder's path, "
                           f"got {config['JOB_FOLDER']!r}")


def make_jobs(config, colorizer) -> Jobs:
    """The video jobs' queue, with its folder checked and its work; its init_app starts its threads."""
    settings = JobSettings.from_config(config)
    try:
        prepare_folder(settings.folder, default=not config["JOB_FOLDER"])
    except (OSError, ValueError) as error:
        raise StartupError(f"cannot start the colorizer: the job folder cannot be used: {error}") from None
    try:
        return Jobs(settings, make_work(config, colorizer))
    except (ImportError, AttributeError, ValueError, sqlite3.Error) as error:
        raise StartupError(f"cannot start the colorizer: video jobs cannot be set up: {error}. Check "
                           f"COLORIZER_REDIS_URL and COLORIZER_VIDEO_FUNCTION.") from None


def page_files(name: str) -> str:
    """templates/ or static/: inside this package once installed (pip install .), at the repository's top level
    in a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, name)
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), name)


def security_headers(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response
