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

from bench.load import free_port, multipart, sample_photo, workers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def gunicorn(tiny_weights):
    port = free_port()
    env = dict(os.environ, COLORIZER_WEIGHTS=str(tiny_weights))
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
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def colorize(port: int, body: bytes, content_type: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/colorize", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    response.read()
    return response.status


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
