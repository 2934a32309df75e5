"""The app under real gunicorn with the shipped config: faults in workers do not cost other requests."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.load import free_port, multipart, sample_photo
from bench.load import workers as children

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


def read_or_none(path: Path) -> bytes | None:
    """A /proc file's bytes; None when its process or thread has ended since it was listed (these tests recycle and
    kill workers while they look)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None


def workers(master: int) -> list[int]:
    """gunicorn's web workers alive: the master's children but its video worker (`python -m app.worker`)."""
    lines = {pid: read_or_none(Path(f"/proc/{pid}/cmdline")) for pid in children(master)}
    return [pid for pid, line in lines.items() if line is not None and b"app.worker" not in line]


def job_process(master: int) -> int | None:
    """The master's video worker (started by a thread of the master's, so listed under that thread)."""
    tasks = Path(f"/proc/{master}/task").iterdir()
    pids = [int(pid) for task in tasks for pid in (read_or_none(task / "children") or b"").split()]
    found = [pid for pid in pids if b"app.worker" in (read_or_none(Path(f"/proc/{pid}/cmdline")) or b"")]
    return found[0] if found else None


@pytest.fixture
def gunicorn(tiny_weights, tmp_path):
    port = free_port()
    env = dict(os.environ, COLORIZER_WEIGHTS=str(tiny_weights), COLORIZER_JOB_FOLDER=str(tmp_path / "jobs"))
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--timeout", "3", "--access-logfile", "/dev/null"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(workers(server.pid)) < 2 or not healthy(port):
        assert time.time() < deadline, "gunicorn did not start"
        time.sleep(0.3)
    yield server, port
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()  # also when a recycled worker dropped it: an unclosed socket is a warning, and an error here


def colorize(port: int, body: bytes, content_type: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/colorize", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_killed_worker_is_replaced_and_other_requests_succeed(gunicorn):
    server, port = gunicorn
    body, content_type = multipart(sample_photo(320, 240))
    assert colorize(port, body, content_type) == 200
    victim = workers(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    statuses = [colorize(port, body, content_type) for _ in range(6)]  # the other worker answers meanwhile
    assert statuses == [200] * 6
    deadline = time.time() + 30
    while not (len(workers(server.pid)) == 2 and victim not in workers(server.pid)):
        assert time.time() < deadline, "the killed worker was not replaced"
        time.sleep(0.3)


def test_a_stuck_upload_is_cut_by_the_timeout_without_blocking_the_service(gunicorn):
    server, port = gunicorn
    before = set(workers(server.pid))
    head = (b"POST /colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b"Content-Length: 100000\r\n\r\n--zz\r\nContent-Disposition: form-data; name=\"image\"; "
            b"filename=\"a.jpg\"\r\n\r\npartial")
    with socket.create_connection(("127.0.0.1", port)) as stuck:
        stuck.sendall(head)  # and never the rest: the worker waits for the body
        body, content_type = multipart(sample_photo(200, 150))
        assert colorize(port, body, content_type) == 200  # the other worker still serves
        stuck.settimeout(30)
        stuck.recv(1000)  # returns when gunicorn gives up on the stuck request (after its 3 s timeout)
    deadline = time.time() + 30
    while set(workers(server.pid)) == before or len(workers(server.pid)) < 2:  # the stuck worker was replaced
        assert time.time() < deadline, "the stuck worker was never cut off and replaced"
        time.sleep(0.3)
    assert healthy(port)


def post_raw(port: int, body: bytes, content_type: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/colorize", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    return response.status, response.getheader("Content-Disposition"), response.read()


NAMES = ["фото бабушки.jpg", "写真.jpg", "صورة العائلة.jpg", "Ångström café.jpg", 'my "best" photo.jpg',
         "a;b;c.jpg", "x" * 5000 + ".jpg", "plain.jpg"]


def test_any_file_name_gets_200_and_a_valid_header_under_gunicorn(gunicorn):
    """gunicorn refuses a raw non-ASCII byte in a header (a 500 after the model ran); the test client does not."""
    from urllib.parse import unquote
    from tests.app.conftest import multipart as form
    _, port = gunicorn
    photo = sample_photo(64, 48)
    for name in NAMES:
        # as browsers send it: UTF-8, with the quote percent-encoded
        body, content_type = form({}, {"image": (photo, name.replace('"', "%22"))})
        status, disposition, _ = post_raw(port, body, content_type)
        assert status == 200, name
        assert disposition.isascii() and disposition.startswith('inline; filename="') and "\n" not in disposition
        if "filename*=UTF-8''" in disposition:
            shown = unquote(disposition.split("filename*=UTF-8''")[1])
            assert shown.endswith("-color.jpg") and shown[0] == name[0]


def test_a_hinted_avif_request_and_a_heic_under_gunicorn(gunicorn):
    import io
    import json
    from PIL import Image
    from tests.app.conftest import multipart as form
    from tests.conftest import synthetic_photo
    _, port = gunicorn
    buffer = io.BytesIO()
    synthetic_photo(40, (96, 72)).save(buffer, "AVIF")
    hints = json.dumps([{"x": 10, "y": 12, "color": "#2040c0"}, {"x": 90, "y": 70, "color": "#c02020"}])
    body, content_type = form({"hints": hints, "vividness": "1.4", "format": "png"},
                              {"image": (buffer.getvalue(), "scan.avif")})
    status, disposition, data = post_raw(port, body, content_type)
    assert status == 200 and disposition == 'inline; filename="scan-color.png"'
    with Image.open(io.BytesIO(data)) as result:
        assert result.format == "PNG" and result.size == (96, 72)
    bad, _, message = post_raw(port, *form({"hints": "[{"}, {"image": (buffer.getvalue(), "scan.avif")}))
    assert bad == 422 and b"not valid JSON" in message
    heic = io.BytesIO()
    synthetic_photo(41, (80, 60)).save(heic, "HEIF")  # an iPhone's format, through pillow-heif
    status, disposition, data = post_raw(port, *form({}, {"image": (heic.getvalue(), "IMG_0042.HEIC")}))
    assert status == 200 and disposition == 'inline; filename="IMG_0042-color.jpg"'
    with Image.open(io.BytesIO(data)) as result:
        assert result.size == (80, 60)


def test_a_film_outlives_web_workers_that_are_recycled_or_killed(tiny_weights, tmp_path):
    """With the embedded queue, the shipped config runs the films in a video worker of the master's, not in the web
    workers: recycling them (max_requests) and killing one (a request past the timeout) costs the film nothing."""
    import json
    from app.jobs import SqliteStore
    from tests.app.conftest import multipart as form
    from tests.app.video_files import synthetic_video
    port, folder = free_port(), tmp_path / "jobs"
    env = dict(os.environ, COLORIZER_WEIGHTS=str(tiny_weights), COLORIZER_JOB_FOLDER=str(folder),
               COLORIZER_VIDEO_FUNCTION="tests.app.slow_video:colorize_video", COLORIZER_TEST_FRAME_DELAY="0.15")
    env.pop("COLORIZER_JOB_THREADS", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--timeout", "3", "--max-requests", "4",
                               "--max-requests-jitter", "0", "--access-logfile", "/dev/null"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(workers(server.pid)) < 2 or job_process(server.pid) is None or not healthy(port):
            assert time.time() < deadline, "gunicorn did not start"
            time.sleep(0.3)
        video_worker = job_process(server.pid)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body, content_type = form({}, {"video": (synthetic_video(40), "film.mp4")})
        connection.request("POST", "/videos", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        assert response.status == 202
        job_id = json.loads(response.read())["id"]
        store, killed, seen = SqliteStore(folder / "queue.sqlite3"), False, set()
        deadline = time.time() + 120
        while (record := store.get(job_id)).state in ("queued", "running"):
            assert time.time() < deadline, "the film did not end"
            seen.update(workers(server.pid))
            healthy(port)  # every 4 requests a web worker is replaced
            if record.frames_done >= 10 and not killed:
                os.kill(workers(server.pid)[0], signal.SIGKILL)
                killed = True
            time.sleep(0.05)
        assert record.state == "done", record
        assert killed and len(seen) >= 4, "the web workers were not replaced while the film ran"
        assert record.attempts == 1 and record.hand_backs == 0
        assert record.worker.rsplit(":", 1)[1] == str(video_worker)  # neither the master nor a web worker
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert not Path(f"/proc/{video_worker}").exists() or b"app.worker" not in \
        Path(f"/proc/{video_worker}/cmdline").read_bytes()  # the master stopped its video worker with it
