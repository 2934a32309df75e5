"""The /videos endpoints (app/videos.py): what is refused, with which status and message, and that a refused
upload leaves nothing behind. The embedded queue; the queue's own behaviour is tests/app/test_jobs.py's."""
import io
import json
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app import StartupError, create_app
from tests.app.conftest import image_bytes, multipart
from tests.app.video_files import frames_of, mjpeg_video, post_video, synthetic_video
from tests.conftest import synthetic_photo


@pytest.fixture
def make_app(tiny_weights, tmp_path):
    apps = []

    def make(**settings):
        app = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), "JOB_FOLDER": str(tmp_path / "jobs"),
                          **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["jobs"].close(hand_back=False)


@pytest.fixture
def idle(make_app):
    """An app whose queue nothing runs: what it accepts stays queued."""
    return make_app(JOB_THREADS=0)


@pytest.fixture(scope="module")
def refusing(tiny_weights, tmp_path_factory):
    """One app for the many cases that must be refused: each leaves nothing, which the tests check."""
    app = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), "JOB_THREADS": 0,
                      "JOB_FOLDER": str(tmp_path_factory.mktemp("refusing") / "jobs")})
    yield app
    app.extensions["jobs"].close(hand_back=False)


def job_folders(app) -> list[Path]:
    return [p for p in Path(app.config["JOB_FOLDER"]).iterdir() if p.is_dir()]


def refused(response, status: int, words: str) -> None:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.is_json and words in response.json["error"], response.json


def test_a_video_is_queued_with_its_upload_in_the_job_folder(idle):
    data = synthetic_video(8)
    response = post_video(idle.test_client(), data, "film.mov")
    assert response.status_code == 202
    (folder,) = job_folders(idle)
    assert folder.name == response.json["id"]
    assert [p.name for p in folder.iterdir()] == ["upload.mov"] and (folder / "upload.mov").read_bytes() == data


def test_uploads_are_streamed_into_the_job_folder_not_kept_in_memory(idle, tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    body, content_type = multipart({}, {"video": (b"x" * 300_000, "a.mp4")})
    with idle.test_request_context("/videos", method="POST", data=body, content_type=content_type):
        from flask import request
        request.upload_folder = folder
        stream = request.files["video"].stream
        assert not isinstance(stream, io.BytesIO) and Path(stream.name).parent == folder
        assert Path(stream.name).stat().st_size == 300_000
        request.close()
    body, content_type = multipart({}, {"image": (b"x" * 300_000, "a.jpg")})
    with idle.test_request_context("/colorize", method="POST", data=body, content_type=content_type):
        from flask import request
        assert isinstance(request.files["image"].stream, io.BytesIO)  # photos stay in memory, as before


@pytest.mark.parametrize("data, filename, status, words", [
    (None, "film.mp4", 400, "No video was sent"),
    (b"", "film.mp4", 400, "empty"),
    (b"this is not a video at all, only some words\n" * 50, "film.mp4", 400, ""),
    (bytes(range(256)) * 40, "noise.avi", 400, ""),
], ids=["no file", "empty", "text", "noise"])
def test_what_is_not_a_video_gets_400_and_leaves_nothing(refusing, data, filename, status, words):
    refused(post_video(refusing.test_client(), data, filename), status, words)
    assert job_folders(refusing) == []


def test_damaged_videos_get_400_or_are_queued_never_500(idle):
    data = synthetic_video(12)
    rng = np.random.default_rng(0)
    damaged = [data[:len(data) // 2], data[len(data) // 2:], data[:64], data[:-64]]
    for _ in range(6):
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), 40):
            flipped[position] ^= 0xFF
        damaged.append(bytes(flipped))
    queued = []
    for number, sample in enumerate(damaged):
        response = post_video(idle.test_client(), sample, f"damaged{number}.mp4")
        assert response.status_code in (202, 400), (number, response.status_code, response.json)
        assert response.is_json
        if response.status_code == 202:
            queued.append(response.json["id"])
    assert queued, "no damaged sample got as far as the queue: the job side is untested"
    # what was queued ends, done or failed with a message for a person; the worker survives it all
    idle.extensions["jobs"].start(1)
    client = idle.test_client()
    deadline = time.monotonic() + 120
    for job_id in queued:
        while (state := client.get(f"/videos/{job_id}").json)["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, "a damaged video's job never ended"
            time.sleep(0.1)
        assert state["state"] in ("done", "failed"), state
        if state["state"] == "failed":
            assert "Traceback" not in state["error"] and len(state["error"]) < 400


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF"])
def test_a_photo_renamed_mp4_is_refused(refusing, fmt):
    """FFmpeg itself would open a photo as a one-frame video; model.video opens only video containers."""
    response = post_video(refusing.test_client(), image_bytes(synthetic_photo(3), fmt), "holiday.mp4")
    refused(response, 400, "upload.mp4 is not a video we can read (we read MP4, MOV, MKV, WebM or AVI)")
    assert job_folders(refusing) == []


def test_a_video_over_the_byte_limit_gets_413_before_it_is_kept(make_app):
    data = synthetic_video(8)
    app = make_app(JOB_THREADS=0, MAX_VIDEO_BYTES=len(data) - 1)
    refused(post_video(app.test_client(), data), 413, f"the limit is {(len(data) - 1) / 2**20:g} MiB")
    assert job_folders(app) == []
    # a body declared far beyond the limit is refused before it is read
    app = make_app(JOB_THREADS=0, MAX_VIDEO_BYTES=1000)
    refused(post_video(app.test_client(), b"\0" * 200_000), 413, "too large")
    assert job_folders(app) == []


def test_photos_keep_their_20_mib_limit_while_videos_have_their_own(make_app):
    app = make_app(JOB_THREADS=0)  # the default limits
    assert app.config["MAX_CONTENT_LENGTH"] == 20 * 2**20 and app.config["MAX_VIDEO_BYTES"] >= 300 * 2**20
    big = b"\0" * (21 * 2**20)
    body, content_type = multipart({}, {"image": (big, "big.jpg")})
    photo = app.test_client().post("/colorize", data=body, content_type=content_type)
    assert photo.status_code == 413
    video = post_video(app.test_client(), big, "big.mp4")
    refused(video, 400, "")  # read whole, then refused as unreadable: not 413
    assert job_folders(app) == []


def test_a_video_too_long_or_too_large_gets_422(make_app):
    long_app = make_app(JOB_THREADS=0, MAX_VIDEO_SECONDS=1)
    refused(post_video(long_app.test_client(), synthetic_video(36, fps=12)), 422, "3 long; the limit is 0:01")
    wide_app = make_app(JOB_THREADS=0, MAX_VIDEO_PIXELS=64 * 48 - 1)
    refused(post_video(wide_app.test_client(), synthetic_video(4)), 422, "64 x 48 pixels")
    assert job_folders(long_app) == [] and job_folders(wide_app) == []


@pytest.mark.parametrize("fields, words", [
    ({"hints": "[{"}, "not valid JSON"),
    ({"hints": '{"x": 1}'}, "JSON array"),
    ({"hints": json.dumps([{"x": 64, "y": 1, "color": "#c02020"}])}, "outside the image"),
    ({"hints": json.dumps([{"x": 1, "y": 1, "color": "red"}])}, "#rrggbb"),
    ({"hints": json.dumps([{"x": 1, "y": 1, "color": "#c02020", "frame": 8}])}, "frame must be a whole number from 0 to 7"),
    ({"hints": json.dumps([{"x": 1, "y": 1, "color": "#c02020", "frame": "2"}])}, "frame must be"),
    ({"vividness": "loud"}, "vividness"),
    ({"vividness": "3"}, "vividness"),
])
def test_bad_fields_get_422_and_leave_nothing(refusing, fields, words):
    refused(post_video(refusing.test_client(), synthetic_video(8), **fields), 422, words)
    assert job_folders(refusing) == []


def test_hints_for_a_model_without_a_hint_layer_get_422(make_app):
    app = make_app(JOB_THREADS=0)
    app.extensions["colorizer"].takes_hints = False  # as a weights file made before colour points existed
    hints = json.dumps([{"x": 3, "y": 4, "color": "#c02020"}])
    refused(post_video(app.test_client(), synthetic_video(4), hints=hints), 422, "without colour points")
    assert post_video(app.test_client(), synthetic_video(4)).status_code == 202


def test_the_checked_request_is_what_is_queued(idle):
    """POST /videos checks the film's request once (model.request) and queues it as checked: the points with the
    frame each starts on (0 when not given) and their colours as Lab, the vividness as a number, the model's size."""
    from model.hints import parse_hints
    from model.request import FilmRequest
    hints = [{"x": 3, "y": 4, "color": "#c02020", "frame": 5}, {"x": 60, "y": 40, "color": "#2040c0"}]
    response = post_video(idle.test_client(), synthetic_video(8), hints=json.dumps(hints), vividness="1.5")
    job = idle.extensions["jobs"].store.get(response.json["id"])
    request = FilmRequest.from_json(job.request)
    assert request.points == tuple(zip((5, 0), parse_hints(hints, 64, 48)))
    assert (request.vividness, request.size, request.stabilize, request.restore) == \
        (1.5, idle.extensions["colorizer"].default_size, True, "off")
    assert (request.width, request.height, request.frames) == (64, 48, 8) == (64, 48, job.frames_total)


def test_the_worker_runs_the_queued_request_as_it_is(make_app, monkeypatch):
    """The work is handed the request the web side checked, and nothing checks it again: a request changed in the
    queue (here, a vividness no form would pass) is run as it stands."""
    import model.request
    app = make_app(JOB_THREADS=0)
    jobs = app.extensions["jobs"]
    job_id = post_video(app.test_client(), synthetic_video(4), vividness="0").json["id"]
    jobs.store.update(job_id, lambda job: replace(job, request={**job.request, "vividness": 0.0}))
    checks = []
    monkeypatch.setattr(model.request, "check_film_request", lambda *a, **k: checks.append(a))
    jobs.start(1)
    wait_for_state = time.time() + 60
    while jobs.store.get(job_id).state != "done":
        assert time.time() < wait_for_state and jobs.store.get(job_id).state in ("queued", "running")
        time.sleep(0.1)
    assert checks == []


@pytest.mark.parametrize("method, path", [("GET", "/videos/{}"), ("GET", "/videos/{}/result"),
                                          ("DELETE", "/videos/{}")])
@pytest.mark.parametrize("job_id", ["0" * 32, "nope", "A" * 32, "..%2F..%2Fetc"])
def test_unknown_jobs_get_404(refusing, method, path, job_id):
    response = refusing.test_client().open(path.format(job_id), method=method)
    refused(response, 404, "no video job" if "%" not in job_id else "not found")  # a path matches no route


def test_the_result_is_409_until_done_then_streams_with_ranges(make_app):
    idle = make_app(JOB_THREADS=0)
    client = idle.test_client()
    job_id = post_video(client, synthetic_video(8), "Ångström film.mp4").json["id"]
    refused(client.get(f"/videos/{job_id}/result"), 409, "not ready: it is queued")
    idle.extensions["jobs"].start(1)  # now a worker runs it
    deadline = time.monotonic() + 60
    while client.get(f"/videos/{job_id}").json["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.1)
    status = client.get(f"/videos/{job_id}")
    assert status.json["state"] == "done" and status.headers["Cache-Control"] == "no-store"
    with client.get(f"/videos/{job_id}/result") as whole:
        assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
        disposition = whole.headers["Content-Disposition"]
        assert disposition.isascii() and "filename*=UTF-8''%C3%85ngstr%C3%B6m_film-color.mp4" in disposition
        assert frames_of(whole.data) == (8, (64, 48))
        data = whole.data
    with client.get(f"/videos/{job_id}/result", headers={"Range": "bytes=10-29"}) as part:
        assert part.status_code == 206 and part.data == data[10:30]


def test_an_unreachable_redis_gets_503_not_500(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = app.test_client()
    for response in (post_video(client, synthetic_video(4)), client.get("/videos/" + "0" * 32)):
        refused(response, 503, "cannot be reached")
        assert response.headers["Retry-After"] == "60"
    assert client.get("/healthz").status_code == 200  # photos do not need the queue


def test_a_nearly_full_disk_gets_503(idle, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("app.jobs.shutil.disk_usage", lambda path: usage(10**12, 10**12 - 10**6, 10**6))
    response = post_video(idle.test_client(), synthetic_video(4))
    refused(response, 503, "short of disk space")
    assert response.headers["Retry-After"] == "60" and shutil is not None


@pytest.mark.parametrize("settings, words", [
    ({"JOB_THREADS": -1}, "COLORIZER_JOB_THREADS"),
    ({"JOB_THREADS": "two"}, "COLORIZER_JOB_THREADS"),
    ({"REDIS_URL": "http://localhost"}, "COLORIZER_REDIS_URL"),
    ({"MAX_VIDEO_BYTES": 0}, "COLORIZER_MAX_VIDEO_BYTES"),
    ({"JOB_TTL": "an hour"}, "COLORIZER_JOB_TTL"),
    ({"MAX_QUEUED": 0}, "COLORIZER_MAX_QUEUED"),
    ({"VIDEO_FUNCTION": "model.video:nothing_here"}, "COLORIZER_VIDEO_FUNCTION"),
])
def test_bad_job_settings_stop_startup_naming_them(tiny_weights, tmp_path, settings, words):
    with pytest.raises(StartupError, match=words):
        create_app({"WEIGHTS": str(tiny_weights), "JOB_FOLDER": str(tmp_path / "jobs"), **settings})


def test_a_job_folder_that_is_a_file_stops_startup(tiny_weights, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StartupError, match="job folder"):
        create_app({"WEIGHTS": str(tiny_weights), "JOB_FOLDER": str(tmp_path / "file")})


def test_the_default_job_folder_must_be_private(tiny_weights, tmp_path, monkeypatch):
    shared = tmp_path / "colorizer-jobs"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setattr("app.jobs.default_folder", lambda: shared)
    with pytest.raises(StartupError, match="not a private folder"):
        create_app({"WEIGHTS": str(tiny_weights)})
    shared.chmod(0o700)
    app = create_app({"WEIGHTS": str(tiny_weights)})
    assert app.extensions["jobs"].settings.folder == shared


def test_a_photo_never_reaches_the_video_queue(idle):
    body, content_type = multipart({}, {"image": (image_bytes(Image.new("RGB", (32, 24))), "a.jpg")})
    assert idle.test_client().post("/colorize", data=body, content_type=content_type).status_code == 200
    assert job_folders(idle) == []


def wait_ended(app, job_id: str, timeout: float = 60) -> dict:
    client, deadline = app.test_client(), time.monotonic() + timeout
    while (state := client.get(f"/videos/{job_id}").json)["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} did not end"
        time.sleep(0.1)
    return state


def test_a_video_whose_later_frames_are_huge_fails_cleanly(make_app):
    """The first frame (checked before queuing) is small, the next ones over the limit: each frame's size is checked
    before it is converted, so the job fails saying so instead of colorizing them."""
    app = make_app(JOB_THREADS=1, MAX_VIDEO_PIXELS=64 * 48 * 2)
    response = post_video(app.test_client(), mjpeg_video([(64, 48)] + [(640, 480)] * 3), "grows.mkv")
    assert response.status_code == 202, response.json
    final = wait_ended(app, response.json["id"])
    assert final["state"] == "failed", final
    assert "frame 2 is 640 x 480 pixels (307,200); the limit is 6,144 pixels a frame" in final["error"]
    assert job_folders(app) == []


def test_the_frame_limit_is_checked_before_queuing_and_while_decoding(make_app, tmp_path, monkeypatch):
    app = make_app(JOB_THREADS=0, MAX_VIDEO_FRAMES=10)
    refused(post_video(app.test_client(), synthetic_video(12)), 422, "The video has 12 frames; the limit is 10.")
    assert job_folders(app) == []
    assert post_video(app.test_client(), synthetic_video(10)).status_code == 202
    # a file whose index says fewer frames than it holds is stopped at the limit as it is decoded
    import model.video
    source = tmp_path / "lies.mp4"
    source.write_bytes(synthetic_video(12))
    real = model.video.probe(source)
    monkeypatch.setattr(model.video, "probe", lambda path: real if path != source else
                        model.video.VideoInfo(64, 48, 3, 12.0, 0.25, False))
    with pytest.raises(model.video.VideoError, match="has more than 5 frames, the limit .its index said 3."):
        model.video.colorize_video(app.extensions["colorizer"], source, tmp_path / "out.mp4",
                                   limits=model.video.VideoLimits(frames=5))
    assert not (tmp_path / "out.mp4").exists()


def test_a_video_wider_than_h264_holds_is_refused_before_queuing(refusing):
    response = post_video(refusing.test_client(), mjpeg_video([(20000, 16)] * 2), "strip.mkv")
    refused(response, 422, "20000 x 16 pixels; the result (H.264) holds frames of at most 16384 pixels a side")
    assert job_folders(refusing) == []


def test_the_queue_limit_holds_when_processes_check_it_at_once(make_app, monkeypatch):
    """Each process checks the room before it reads the upload: several uploads at once all pass that check. The
    last to be queued past the limit withdraws."""
    app = make_app(JOB_THREADS=0, MAX_QUEUED=2)
    monkeypatch.setattr(app.extensions["jobs"], "room", lambda: None)  # as if all three had checked together
    client = app.test_client()
    assert [post_video(client, synthetic_video(4)).status_code for _ in range(2)] == [202, 202]
    response = post_video(client, synthetic_video(4))
    refused(response, 503, "The video queue is full (2 videos waiting)")
    assert response.headers["Retry-After"] == "60"
    assert len(job_folders(app)) == 2
    assert sum(job.state == "queued" for job in app.extensions["jobs"].store.all()) == 2


def test_a_disk_that_fills_during_the_upload_gets_503_and_leaves_nothing(idle, monkeypatch):
    import errno
    from app import InMemoryRequest

    class FullDisk(io.RawIOBase):
        def __init__(self, path: Path):
            self.name = str(path)
            path.write_bytes(b"")

        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    real = InMemoryRequest._get_file_stream

    def full(self, *args, **kwargs):
        if self.upload_folder is None:
            return real(self, *args, **kwargs)
        return FullDisk(self.upload_folder / "upload-spool")

    monkeypatch.setattr(InMemoryRequest, "_get_file_stream", full)
    response = post_video(idle.test_client(), synthetic_video(4))
    refused(response, 503, "ran out of disk space")
    assert response.headers["Retry-After"] == "60"
    assert job_folders(idle) == []


def test_too_many_form_parts_are_said_as_such(refusing):
    fields = {f"field{number}": "x" for number in range(1001)}
    body, content_type = multipart(fields, {"video": (synthetic_video(4), "film.mp4")})
    response = refusing.test_client().post("/videos", data=body, content_type=content_type)
    refused(response, 413, "The form has more than 1,000 parts")
    assert "too large" not in response.json["error"]
    assert job_folders(refusing) == []
    body, content_type = multipart(fields, {"image": (image_bytes(synthetic_photo(1)), "a.jpg")})
    response = refusing.test_client().post("/colorize", data=body, content_type=content_type)
    refused(response, 413, "The form has more than 1,000 parts")


def test_a_hundred_thousand_frames_in_a_small_file_get_422_before_any_work(make_app):
    """One tiny black frame indexed 100,000 times (33 MB here; a few hundred KB with H.264): within the bytes and
    the duration, but hours of a worker. Refused from the container's index, at the default limits."""
    jpeg = io.BytesIO()
    Image.new("L", (16, 16), 0).save(jpeg, "JPEG")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mjpeg", rate=100)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuvj420p"
        stream.time_base = Fraction(1, 100)
        for index in range(100_000):
            packet = av.Packet(jpeg.getvalue())
            packet.stream, packet.time_base = stream, stream.time_base
            packet.pts = packet.dts = index
            packet.is_keyframe = True
            container.mux(packet)
    app = make_app(JOB_THREADS=0)
    started = time.monotonic()
    refused(post_video(app.test_client(), buffer.getvalue(), "bomb.mp4"), 422,
            "The video has 100,000 frames; the limit is 36,000.")
    assert time.monotonic() - started < 10 and job_folders(app) == []


def test_the_pages_preview_of_a_films_first_frame_is_the_films_first_frame(make_app, tmp_path, monkeypatch):
    """The page previews a film by sending its first frame, whole, to POST /colorize at the model's own size and
    without repair (static/js/video.js, render.js); the film's first frame, as painted before it is encoded, is
    that image to the bit: with a point, at another vividness."""
    import model.film
    from model.video import colorize_video
    app = make_app(JOB_THREADS=0)
    colorizer = app.extensions["colorizer"]
    source = tmp_path / "film.mp4"
    source.write_bytes(synthetic_video(4, size=(192, 144)))  # larger than the network sees: painting matters
    with model.film.FilmReader(source, model.film.probe(source)) as film:
        first = next(film.frames()).rgb  # decoded as the film is; the browser draws it to a canvas, as PNG
    point = {"x": 60, "y": 45, "color": "#2050c0"}

    def preview(hints: list) -> np.ndarray:
        png = io.BytesIO()
        Image.fromarray(first).save(png, "PNG")
        body, content_type = multipart({"size": str(colorizer.default_size), "restore": "off", "vividness": "1.3",
                                        "format": "png", "hints": json.dumps(hints)},
                                       {"image": (png.getvalue(), "film-first-frame.png")})
        response = app.test_client().post("/colorize", data=body, content_type=content_type)
        assert response.status_code == 200, response.get_data(as_text=True)
        return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"))

    painted, write = [], model.film.FilmWriter.write
    monkeypatch.setattr(model.film.FilmWriter, "write",
                        lambda self, rgb, frame: (painted.append(rgb.copy()), write(self, rgb, frame))[1])
    colorize_video(colorizer, source, tmp_path / "out.mp4", hints=[{**point, "frame": 0}], vividness=1.3)
    assert len(painted) == 4
    with_point = preview([point])
    assert np.array_equal(with_point, painted[0])
    assert np.abs(with_point.astype(int) - preview([]).astype(int)).max() > 10  # the point shows: equal, not blank


# A colour reference with a film: checked as POST /colorize checks its own, kept beside the upload, prepared once by
# the worker; the finished job says how much of its keyframes matched.

@pytest.fixture
def make_encoder_app(echo_encoder_weights, tmp_path):
    apps = []

    def make(**settings):
        app = create_app({"TESTING": True, "WEIGHTS": str(echo_encoder_weights),
                          "JOB_FOLDER": str(tmp_path / "jobs"), **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["jobs"].close(hand_back=False)


def post_with_reference(client, reference: bytes, filename: str = "reference.png"):
    body, content_type = multipart({}, {"video": (two_texture_video(), "film.mp4"), "reference": (reference, filename)})
    return client.post("/videos", data=body, content_type=content_type)


def two_texture_video(frames: int = 4) -> bytes:
    from tests.model.test_video import two_texture_frames
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        grays = two_texture_frames(frames)
        stream.height, stream.width = grays[0].shape
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "1"}
        for index, gray in enumerate(grays):
            frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=2), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 12)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize("data, status, words", [
    (image_bytes(Image.new("RGB", (96, 64), (128, 128, 128)), "PNG"), 422, "gray photo"),
    (b"this is not an image", 415, "not an image"),
])
def test_a_reference_that_cannot_give_colours_gets_a_4xx_naming_it_and_leaves_nothing(make_encoder_app, data,
                                                                                        status, words):
    app = make_encoder_app(JOB_THREADS=0)
    response = post_with_reference(app.test_client(), data)
    refused(response, status, words)
    assert response.json["error"].startswith("reference"), response.json
    assert job_folders(app) == []


def test_a_reference_to_a_model_without_an_encoder_gets_422_naming_it(idle):
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    response = post_with_reference(idle.test_client(), image_bytes(two_textures(checks, stripes, colours=(BLUE, RED)),
                                                                   "PNG"))
    refused(response, 422, "reference: this model has no ImageNet encoder")
    assert job_folders(idle) == []


def test_a_film_with_a_reference_is_colorized_with_it_and_says_how_much_matched(make_encoder_app, tmp_path):
    from tests.app.test_jobs import state, wait_for
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    from tests.model.test_video import decoded, halves_ab
    app = make_encoder_app(JOB_THREADS=0)
    reference = image_bytes(two_textures(checks, stripes, colours=(BLUE, RED), seed=1), "PNG")
    response = post_with_reference(app.test_client(), reference)
    assert response.status_code == 202, response.json
    job = app.extensions["jobs"].get(response.json["id"])
    folder = Path(app.config["JOB_FOLDER"]) / job.id
    assert job.request["reference"] == "reference" and (folder / "reference").read_bytes() == reference
    app.extensions["jobs"].close(hand_back=False)
    runner = make_encoder_app(JOB_THREADS=1)  # a worker on the same folder runs it
    client = runner.test_client()
    done = wait_for(lambda: (lambda s: s["state"] in ("done", "failed") and s)(state(client, job.id)), 120, "the job")
    assert done["state"] == "done", done
    assert 0.5 < done["reference_share"] <= 1, done
    with client.get(done["result"]) as result:
        (tmp_path / "result.mp4").write_bytes(result.data)
    frames = decoded(tmp_path / "result.mp4")[0]
    left, right = halves_ab(frames[-1])
    assert left[0] > 15 and right[1] < -8, f"the reference's red and blue on their textures, got {left}, {right}"
