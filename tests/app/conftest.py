import copy
import io
from pathlib import Path

import pytest
from PIL import Image

import model.colorizer
from app import create_app
from tests.conftest import synthetic_photo


@pytest.fixture(scope="session", autouse=True)
def weights_read_once_a_session():
    """Every app test makes its own app, and reading a weights file (TorchScript, frozen, checked on a probe)
    was a sixth of the fast run: here a file is read once, and each Colorizer gets the same frozen network (it
    keeps no state), its own info and its own memory. Reading weights is tested in tests/model, file by file."""
    real, read = model.colorizer.load_network_and_encoder, {}

    def read_once(path, device, precision):
        if not Path(path).is_file():
            return real(path, device, precision)  # its message for a missing file
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, str(device), precision)
        if key not in read:
            read[key] = real(path, device, precision)
        network, info, *encoders = read[key]
        return network, copy.deepcopy(info), *encoders

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model.colorizer, "load_network_and_encoder", read_once)
        yield


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
