"""Video jobs over HTTP: POST /videos (202), GET /videos/ID (state), GET /videos/ID/result (the MP4),
DELETE /videos/ID (cancel and remove). The queue itself is app/jobs.py, reached as app.extensions["jobs"].

An upload is streamed into the job's own folder (app.InMemoryRequest.upload_folder), never held in memory, and
checked there before it is queued: bytes (413), a video model.film reads (400: MP4, MOV, MKV, WebM or AVI, its
first frame decoded; a photo is not one), duration, frames and frame size (422), the fields (422, by
model.request's rules for films, the photo rules plus each point's frame), and an optional colour `reference`
photo, checked as POST /colorize checks its own (4xx naming the field) and kept beside the upload as `reference`.
The checked request (the reference by that name) is what is queued: the worker runs it as it is, preparing the
reference once. Everything a refused upload left is removed before the answer.
"""
import errno
import importlib
import os
import time
from pathlib import Path, PurePath
from typing import Callable

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.images import UploadError
from app.jobs import BACKEND_ERRORS, Jobs, QueueFull, State, WorkFailed, clock
from app.views import TooManyParts, content_disposition, decode_reference, parse_hints_field, safe_stem
from model.film import VideoError, VideoInfo, VideoLimits, check_limits, probe
from model.request import FilmRequest, RequestError, check_film_request

bp = Blueprint("videos", __name__, url_prefix="/videos")
RETRY_SECONDS = 60  # Retry-After of a 503: the queue moves by whole videos, minutes each
REFERENCE = "reference"  # the reference photo's name in the job's folder, beside the upload


def jobs() -> Jobs:
    return current_app.extensions["jobs"]


def colorizer():
    return current_app.extensions["colorizer"]


def queue_unreachable(error):
    current_app.logger.warning("the video queue's storage cannot be reached: %s", error)
    return unavailable("The video queue cannot be reached just now; try again shortly.")


for _kind in BACKEND_ERRORS:
    bp.register_error_handler(_kind, queue_unreachable)


@bp.post("")
def submit():
    config = current_app.config
    limit = config["MAX_VIDEO_BYTES"]
    # the video, a reference photo (a photo's limit), the other fields and the form's framing
    form_limit = limit + config["MAX_CONTENT_LENGTH"] + 4 * config["MAX_HINTS_CHARS"] + 65536
    if request.content_length is not None and request.content_length > form_limit:
        return error(413, too_large(limit))
    why_not = jobs().room()
    if why_not:
        return unavailable(why_not)
    job_id, folder = jobs().create()
    try:
        request.upload_folder = folder  # the upload is written there as it arrives
        request.max_content_length = form_limit
        try:
            form, files = request.form, request.files
        except TooManyParts as refused:
            raise UploadError(413, refused.description) from None
        except RequestEntityTooLarge:
            raise UploadError(413, too_large(limit)) from None
        except OSError as failed:
            if failed.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            current_app.logger.warning("the job folder's disk filled up during a video's upload")
            raise UploadError(503, "The server ran out of disk space for videos during the upload; try again "
                                   "later.") from None
        raw_hints = parse_hints_field(form.get("hints", ""))
        upload = files.get("video")
        if upload is None:
            raise UploadError(400, "No video was sent: post the file in a multipart form field named 'video'.")
        source = keep_upload(upload, folder, limit)
        info = check_video(source)
        try:  # every rule about what may be asked of a film is model.request's; what it returns is what runs
            reference = keep_reference(files.get("reference"), folder)
            wanted = check_film_request(info.width, info.height, info.frames, vividness=form.get("vividness"),
                                        hints=raw_hints, reference=reference, default_size=colorizer().default_size,
                                        takes_hints=colorizer().takes_hints, text=True)
        except RequestError as refused:
            raise UploadError(422, f"{refused}.") from None
        jobs().submit(job_id, safe_stem(upload.filename or "video"), source.name, wanted.to_json(), wanted.frames)
    except QueueFull as full:
        jobs().discard(job_id)
        return unavailable(str(full))
    except UploadError as refused:
        jobs().discard(job_id)
        return unavailable(refused.message) if refused.status == 503 else error(refused.status, refused.message)
    except BaseException:
        jobs().discard(job_id)
        raise
    finally:
        request.close()  # the upload's file handles (the file itself was moved, or its folder removed)
    url = url_for("videos.status", job_id=job_id)
    return jsonify(id=job_id, url=url), 202, {"Location": url}


@bp.get("/<job_id>")
def status(job_id: str):
    job = jobs().get(job_id)
    if job is None:
        return not_found()
    body = {"id": job.id, "state": job.state.value, "frames_done": job.frames_done, "frames_total": job.frames_total,
            "seconds_left": job.seconds_left}
    if job.state == State.QUEUED:  # waiting: for its turn, or for a worker to start at all
        body["workers"] = jobs().live_workers()
        if not body["workers"]:
            body["waiting_for"] = ("No video worker is running: the video waits until one starts (python -m "
                                   "app.worker, or the server's own).")
    if job.state == State.FAILED:
        body["error"] = job.error
    if job.state == State.DONE:
        body["result"] = url_for("videos.result", job_id=job_id)
        if job.started is not None:  # the run that made it, from its start to its end (the wait not counted)
            body["seconds"] = round(job.finished - job.started, 2)
        if "reference_share" in job.details:  # the mean part of its keyframes that took the reference's colours
            body["reference_share"] = job.details["reference_share"]
    if job.finished is not None:  # seconds until it and its files are removed
        body["expires_in"] = max(0, round(job.finished + jobs().settings.ttl - time.time()))
    return jsonify(body), 200, {"Cache-Control": "no-store"}


@bp.get("/<job_id>/result")
def result(job_id: str):
    job = jobs().get(job_id)
    if job is None:
        return not_found()
    if job.state != State.DONE:
        return error(409, f"The video is not ready: it is {job.state.value}.")
    try:
        response = send_file(jobs().result_path(job_id), mimetype="video/mp4", conditional=True, max_age=None)
    except FileNotFoundError:  # removed between the two looks (it expired, or was deleted)
        return not_found()
    response.headers["Content-Disposition"] = content_disposition(job.name, "-color.mp4")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/<job_id>")
def delete(job_id: str):
    if not jobs().cancel(job_id):
        return not_found()
    return Response(status=204)


def keep_upload(upload, folder: Path, limit: int) -> Path:
    """Moves the streamed upload to upload<suffix> in the job's folder (a fixed name: model.film's messages
    name the file, and must not echo what was sent); checks its size."""
    stream = upload.stream
    stream.flush()
    size = os.fstat(stream.fileno()).st_size
    if size == 0:
        raise UploadError(400, "The uploaded file is empty.")
    if size > limit:
        raise UploadError(413, too_large(limit))
    suffix = PurePath(upload.filename or "").suffix.lower()
    suffix = suffix if suffix[1:].isascii() and suffix[1:].isalnum() and len(suffix) <= 8 else ""
    source = folder / f"upload{suffix}"
    os.replace(stream.name, source)
    return source


def keep_reference(upload, folder: Path) -> str | None:
    """The optional reference field (streamed into the job's folder): a colour photo, decoded and checked as POST
    /colorize checks its own and prepared once to see that it gives colours (UploadError or RequestError naming
    the field), then moved, in one rename, to REFERENCE beside the upload -> that name; None when not sent (or
    sent empty, as a form's file input left empty is)."""
    if upload is None:
        return None
    stream = upload.stream
    stream.flush()
    size = os.fstat(stream.fileno()).st_size
    if size == 0 and not upload.filename:
        return None
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if size > limit:
        raise UploadError(413, f"reference (the colour photo to take colours from): it is too large: the limit is "
                               f"{limit / 2**20:g} MiB.")
    stream.seek(0)
    colorizer().prepare_reference(decode_reference(upload))  # RequestError("reference"): gray, or no encoder
    os.replace(stream.name, folder / REFERENCE)
    return REFERENCE


def check_video(path: Path) -> VideoInfo:
    """The video's facts; UploadError when it is unreadable, too long or too large."""
    try:
        info = probe(path)
    except VideoError as refused:
        raise UploadError(400, str(refused)) from None
    except Exception:  # a damaged file can break a demuxer in ways VideoError does not name
        current_app.logger.exception("probing an uploaded video failed")
        raise UploadError(400, "The video could not be read: the file is damaged or not a video.") from None
    config = current_app.config
    longest = config["MAX_VIDEO_SECONDS"]
    if info.duration > longest:
        raise UploadError(422, f"The video is {clock(info.duration)} long; the limit is {clock(longest)}.")
    try:  # the frames and their size, by the rule the worker applies again as it decodes (model.film)
        check_limits(info, VideoLimits(config["MAX_VIDEO_FRAMES"], config["MAX_VIDEO_PIXELS"]))
    except VideoError as refused:
        raise UploadError(422, str(refused)) from None
    return info


def make_work(config, colorizer) -> Callable[[Path, Path, dict, Callable[[int, int], None]], int]:
    """The queue's work (app/jobs.py): a film request as POST /videos checked it (FilmRequest's JSON) -> the film
    colorized by VIDEO_FUNCTION ("module:function", model.video's colorize_video; tests point it at a slower
    wrapper), within the frame limits, checked again as it is decoded -> frames written. Raises ImportError or
    AttributeError when VIDEO_FUNCTION names nothing."""
    module, _, name = config["VIDEO_FUNCTION"].partition(":")
    colorize_video = getattr(importlib.import_module(module), name)
    limits = VideoLimits(config["MAX_VIDEO_FRAMES"], config["MAX_VIDEO_PIXELS"])

    def work(source: Path, result: Path, request: dict, progress: Callable[[int, int], None]) -> int:
        if not request:
            raise WorkFailed("The video was queued by an earlier version of this server, whose jobs this one "
                             "cannot run; send it again.")
        try:
            info = colorize_video(colorizer, source, result, request=FilmRequest.from_json(request),
                                  progress=progress, limits=limits)  # a reference (in the folder) prepared once
        except (VideoError, RequestError) as refused:  # the film or its reference: the person reads why
            raise WorkFailed(str(refused)) from None
        share = getattr(info, "reference_share", None)
        frames = getattr(info, "frames", 0)
        return frames if share is None else (frames, {"reference_share": round(share, 3)})
    return work


def too_large(limit: int) -> str:
    return f"The video is too large: the limit is {limit / 2**20:g} MiB."


def error(status: int, message: str):
    return jsonify(error=message), status


def not_found():
    return error(404, "There is no video job with this id: it never existed, was deleted, or expired.")


def unavailable(message: str):
    response = jsonify(error=message)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response
