"""Small synthetic videos for the job tests, made with PyAV in memory, and the form that posts them."""
import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from tests.app.conftest import multipart


def synthetic_video(frames: int = 6, size: tuple[int, int] = (64, 48), fps: int = 12) -> bytes:
    """An MP4 (H.264) of a bright bar moving over a gradient: `frames` frames, `size` (width, height), `fps`."""
    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ramp = np.linspace(30, 200, width, dtype=np.float32)[None, :, None]
        for index in range(frames):
            pixels = np.broadcast_to(ramp, (height, width, 3)).copy()
            left = (index * 5) % width
            pixels[height // 4: height // 2, left: left + 8] = (230, 120, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def frames_of(data: bytes) -> tuple[int, tuple[int, int]]:
    """(frame count, (width, height)) of an encoded video, by decoding it."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), (stream.width, stream.height)


def post_video(client, data: bytes | None, filename: str = "film.mp4", **fields):
    files = {"video": (data, filename)} if data is not None else {}
    body, content_type = multipart({k: str(v) for k, v in fields.items()}, files)
    return client.post("/videos", data=body, content_type=content_type)


def mjpeg_video(sizes: list[tuple[int, int]], fmt: str = "matroska", fps: int = 12) -> bytes:
    """A video whose frames are JPEGs of the given (width, height) each, gray, in an MKV (or fmt: "avi"): each
    frame says its own size, so later frames can differ from the first (what an H.264 stream cannot do)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height = sizes[0]
        stream.pix_fmt = "yuvj420p"
        stream.time_base = Fraction(1, fps)
        for index, size in enumerate(sizes):
            jpeg = io.BytesIO()
            Image.new("L", size, 40 + 10 * (index % 16)).save(jpeg, "JPEG")
            packet = av.Packet(jpeg.getvalue())
            packet.stream, packet.time_base = stream, stream.time_base
            packet.pts = packet.dts = index
            packet.is_keyframe = True
            container.mux(packet)
    return buffer.getvalue()
