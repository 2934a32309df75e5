"""Hostile and faulty videos, made at test time (no media is committed): each upload is answered 4xx, or becomes a
job that ends done or failed with a message for a person. Never a 5xx, never a job that does not end, and the
server (its worker thread included) is still there after each."""
import io
import time

import av
import numpy as np
import pytest

from app import create_app
from tests.app.conftest import image_bytes
from tests.app.video_files import mjpeg_video, post_video, synthetic_video
from tests.conftest import synthetic_photo

LIMITS = {"MAX_VIDEO_SECONDS": 2, "MAX_VIDEO_FRAMES": 30, "MAX_VIDEO_PIXELS": 320 * 240}


def audio_only() -> bytes:
    """An MKV with a sound track and no picture."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def flipped(data: bytes, seed: int) -> bytes:
    damaged = bytearray(data)
    for position in np.random.default_rng(seed).integers(64, len(data), 30):
        damaged[position] ^= 0xFF
    return bytes(damaged)


CLIP = synthetic_video(12)
CASES = {  # name: (bytes, file name, what may answer: a status, or "ends" for a job that must end)
    "text named mp4": (b"nothing to see here\n" * 100, "film.mp4", 400),
    "empty": (b"", "film.mp4", 400),
    "a photo named mp4": (image_bytes(synthetic_photo(5)), "film.mp4", 400),
    "sound without picture": (audio_only(), "film.mkv", 400),
    "an EBML header and noise": (b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 20, "film.mkv", 400),
    "first half of an mp4": (CLIP[: len(CLIP) // 2], "film.mp4", "4xx or ends"),
    "last half of an mp4": (CLIP[len(CLIP) // 2:], "film.mp4", "4xx or ends"),
    "bits flipped (1)": (flipped(CLIP, 1), "film.mp4", "4xx or ends"),
    "bits flipped (2)": (flipped(CLIP, 2), "film.mp4", "4xx or ends"),
    "bits flipped (3)": (flipped(CLIP, 3), "film.mp4", "4xx or ends"),
    "longer than the limit": (synthetic_video(36, fps=12), "film.mp4", 422),
    "more frames than the limit": (synthetic_video(31, fps=24), "film.mp4", 422),
    "frames larger than the limit": (synthetic_video(4, size=(400, 300)), "film.mp4", 422),
    "wider than H.264 holds": (mjpeg_video([(20000, 16)] * 2), "film.mkv", 422),
    "later frames over the limit": (mjpeg_video([(64, 48)] + [(640, 480)] * 3), "film.mkv", "failed"),
    "later frames smaller": (mjpeg_video([(64, 48)] + [(32, 24)] * 3), "film.mkv", "done"),
    "MJPEG in AVI": (mjpeg_video([(48, 32)] * 4, fmt="avi"), "film.avi", "done"),
    "one frame": (synthetic_video(1), "film.mp4", "done"),
    "odd sides": (mjpeg_video([(33, 17)] * 3), "film.mkv", "done"),
    "an mp4 named avi": (synthetic_video(4), "film.avi", "done"),
}


@pytest.fixture(scope="module")
def server(tiny_weights, tmp_path_factory):
    app = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), "JOB_LEASE": 3,
                      "JOB_FOLDER": str(tmp_path_factory.mktemp("corpus") / "jobs"), **LIMITS}, start_jobs=False)
    app.extensions["jobs"].start(1)
    yield app
    app.extensions["jobs"].close(hand_back=False)


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_video_gets_a_4xx_or_a_job_that_ends(server, name):
    data, filename, expected = CASES[name]
    client = server.test_client()
    response = post_video(client, data, filename)
    assert response.status_code < 500 and response.is_json, (response.status_code, response.get_data(as_text=True))
    if response.status_code != 202:
        assert expected in (response.status_code, "4xx or ends"), (response.status_code, response.json)
        assert 400 <= response.status_code < 500 and 10 < len(response.json["error"]) < 400
        assert "<" not in response.json["error"]
    else:
        assert expected in ("done", "failed", "4xx or ends"), f"accepted, but {expected} was due"
        job_id, deadline = response.json["id"], time.monotonic() + 60
        while (state := client.get(f"/videos/{job_id}").json)["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, f"the job of {name!r} never ended"
            time.sleep(0.05)
        assert state["state"] in ("done", "failed") and expected in (state["state"], "4xx or ends"), state
        if state["state"] == "failed":
            assert 10 < len(state["error"]) < 400 and "Traceback" not in state["error"]
        else:
            with client.get(f"/videos/{job_id}/result") as result:
                assert result.status_code == 200 and len(result.data) > 100
    assert client.get("/healthz").status_code == 200
    assert [t.name for t in server.extensions["jobs"]._threads if t.is_alive()] == ["video-sweeper", "video-worker-1"]
