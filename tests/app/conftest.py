import io

import pytest
from PIL import Image

from app import create_app
from tests.conftest import synthetic_photo


@pytest.fixture
def app(tiny_weights):
    return create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
                       "MAX_PIXELS": 4_000_000})


@pytest.fixture
def client(app):
    return app.test_client()


def image_bytes(image: Image.Image | None = None, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    (image or synthetic_photo(0)).save(buffer, fmt, **options)
    return buffer.getvalue()


def multipart(fields: dict[str, str], files: dict[str, tuple[bytes, str]]) -> tuple[bytes, str]:
    """Encodes a multipart/form-data body in memory: (body, content type)."""
    boundary = "----colorizer-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (data, filename) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(client, data: bytes | None = None, filename: str = "photo.jpg", field: str = "image",
         headers: dict | None = None, **fields):
    files = {field: (data, filename)} if data is not None else {}
    body, content_type = multipart({k: str(v) for k, v in fields.items()}, files)
    return client.post("/colorize", data=body, content_type=content_type, headers=headers or {})


@pytest.fixture(autouse=True)
def jobs_stopped_after_each_test(monkeypatch):
    """create_app starts its queue's threads (a worker thread with the embedded queue, and a sweeper): stop those
    each test started, so that no test's threads poll the queue folders of the tests after it."""
    from app.jobs import Jobs
    started, real_start = [], Jobs.start

    def start(self, *args, **kwargs):
        started.append(self)
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(Jobs, "start", start)
    yield
    for jobs in started:
        jobs.close(hand_back=False)
