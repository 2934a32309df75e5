"""The page with a video, in real headless Chromium: the first frame to place points on, the job's progress, the
finished film beside the original, its download, cancelling, a reference photo sent with the film, and the
messages of a refused video or reference.

The server is test_page.py's (the shipped weights when they take hints, else the stand-in net), its video jobs run
by the embedded queue in a thread, through tests/app/slow_video.py (a pause after each frame, so that progress and
cancelling can be seen). Set SCREENSHOT_DIR to keep the screenshot (docs/screenshot-video.png), and
BROWSER_TEST_VIDEO to a folder of JPEG frames (e.g. ../shared/data/video/bear) to film those instead of the
synthetic video.
"""
import io
import json
import os
import re
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.app.video_files import frames_of, synthetic_video
from tests.browser.test_page import (CONTRAST, PHONE, browser, click_photo, keep, new_page, settle,  # noqa: F401 (fixture)
                                     watched)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FRAMES = 24
POINT = (0.25, 0.57)  # where the test places its blue point, as fractions of the frame's width and height


@pytest.fixture(scope="module")
def video_server(echo_weights, tmp_path_factory):
    from werkzeug.serving import make_server
    from app import create_app
    from model.weights import DEFAULT_WEIGHTS, load_network, takes_hints
    shipped = DEFAULT_WEIGHTS.exists() and takes_hints(load_network(DEFAULT_WEIGHTS)[1])
    app = create_app({"WEIGHTS": str(DEFAULT_WEIGHTS if shipped else echo_weights),
                      "JOB_FOLDER": str(tmp_path_factory.mktemp("jobs")),
                      "VIDEO_FUNCTION": "tests.app.slow_video:colorize_video"})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    app.extensions["jobs"].close(hand_back=False)


@pytest.fixture
def frame_delay(monkeypatch):
    """Seconds slow_video pauses after each frame (read as each frame ends)."""
    def set_delay(seconds: float) -> None:
        monkeypatch.setenv("COLORIZER_TEST_FRAME_DELAY", str(seconds))
    set_delay(0.1)
    return set_delay


def film_of_frames(folder: Path, frames: int = 30, width: int = 480) -> bytes:
    """A gray MP4 of a folder's first JPEG frames, at most `width` wide: an old film, for the screenshot."""
    grays = []
    for path in sorted(folder.glob("*.jpg"))[:frames]:
        with Image.open(path) as frame:
            scale = min(1, width / frame.width)
            size = (2 * round(frame.width * scale / 2), 2 * round(frame.height * scale / 2))
            grays.append(frame.convert("L").resize(size, Image.Resampling.BICUBIC).convert("RGB"))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = *grays[0].size, "yuv420p"
        for gray in grays:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(gray), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def film(tmp_path) -> Path:
    path = tmp_path / "old film.mp4"
    folder = os.environ.get("BROWSER_TEST_VIDEO")
    path.write_bytes(film_of_frames(Path(folder)) if folder else synthetic_video(FRAMES, (96, 64)))
    return path


def choose(page, server, film) -> None:
    """The page with the film chosen: its first frame shown, colorized."""
    page.goto(server)
    page.set_input_files("#image", str(film))
    page.wait_for_selector("#compare:not(.pending)", timeout=60_000)
    settle(page)


# The form fields the page sends with XMLHttpRequest (the file as its size). Playwright's request.post_data_buffer
# leaves out a multipart body that holds a file.
RECORD_SENDS = """
    window.__sent = [];
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
        if (body instanceof FormData) {
            const fields = {};
            for (const [name, value] of body.entries()) fields[name] = typeof value === "string" ? value : value.size;
            window.__sent.push(fields);
        }
        return send.apply(this, arguments);
    };
"""


def test_a_video_is_colorized_with_progress_and_shown_beside_the_original(browser, video_server, film, frame_delay,
                                                                         tmp_path):
    page = new_page(browser)
    problems = watched(page)
    page.add_init_script(RECORD_SENDS)
    page.goto(video_server)
    assert "Drop a photo or a video here" in page.inner_text("#drop")
    choose(page, video_server, film)
    with av.open(str(film)) as container:
        width, height = container.streams.video[0].width, container.streams.video[0].height
    natural = page.eval_on_selector("#before", "img => [img.naturalWidth, img.naturalHeight]")
    assert natural == [width, height]  # the first frame, at the video's size, to place points on
    assert page.is_hidden("#size") and page.is_hidden("#restore") and page.is_hidden("#download")
    assert page.inner_text("#submit") == "Colorize the video" and "first frame" in page.inner_text("#result")
    click_photo(page, *POINT)  # on the screenshot's film: the woman's jeans
    page.click(".swatch[aria-label=blue]")
    settle(page)

    with page.expect_request(lambda request: request.url.endswith("/videos") and request.method == "POST") as sent:
        page.click("#submit")
    assert sent.value.url == f"{video_server}/videos"
    (fields,) = page.evaluate("window.__sent")
    (hint,) = json.loads(fields["hints"])
    assert hint["frame"] == 0 and hint["color"] == "#2e59c6" and abs(hint["x"] / width - POINT[0]) < 0.03
    assert fields["vividness"] == "1" and fields["video"] == film.stat().st_size
    page.wait_for_function("() => / of \\d+ frames, /.test(document.getElementById('video-progress-text').textContent)",
                           timeout=60_000)
    text = page.inner_text("#video-progress-text")
    assert re.search(r"Colorizing: \d+ of \d+ frames, (about \d+|estimating)", text), text
    assert page.is_hidden("#result")  # the first frame makes way for the progress
    assert page.is_disabled("#vividness")  # sent with the video: not to be changed while it is colorized

    page.wait_for_selector("#video[data-state=done]", timeout=120_000)
    page.wait_for_function("() => document.getElementById('video-after').readyState >= 2", timeout=30_000)
    duration = page.eval_on_selector("#video-after", "v => v.duration")
    assert duration > 0 and page.eval_on_selector("#video-before", "v => v.readyState") >= 1
    page.eval_on_selector("#video-after", "v => { v.currentTime = v.duration / 2; }")  # the original follows
    page.wait_for_function("() => Math.abs(document.getElementById('video-before').currentTime - "
                           "document.getElementById('video-after').currentTime) < 0.05", timeout=10_000)
    page.wait_for_function("() => [...document.querySelectorAll('video')].every("
                           "(v) => !v.seeking && v.readyState >= 3)")
    page.mouse.move(0, 0)
    page.wait_for_timeout(2000)  # Chromium's loading animation ends its turn before it goes
    page.screenshot(path=tmp_path / "video.png", full_page=True)
    keep(tmp_path / "video.png", "screenshot-video.png")

    with page.expect_download() as download_info:
        page.click("#video-download")
    downloaded = tmp_path / "download.mp4"
    download_info.value.save_as(downloaded)
    assert download_info.value.suggested_filename == "old_film-color.mp4"  # named by the server
    frames, size = frames_of(downloaded.read_bytes())
    assert size == (width, height) and frames == frames_of(film.read_bytes())[0]
    assert not problems, f"the page logged errors: {problems}"


def test_a_colour_the_first_frame_cannot_show_is_said_of_the_frame(browser, video_server, film):
    """The note on a colour the result cannot show at a point (test_page.py tests it on a photo) speaks of the frame
    on a video's first frame. The test answers /colorize itself: a gray frame, and a header that says the navy
    asked is shown as a lighter blue."""
    page = new_page(browser)
    with av.open(str(film)) as container:
        size = container.streams.video[0].width, container.streams.video[0].height
    gray = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(gray, "JPEG")

    def answer(route):
        headers = {"Cache-Control": "no-store"}
        hints = re.search(rb'name="hints"\r\n\r\n(.*?)\r\n--', route.request.post_data_buffer or b"", re.S)
        if hints:
            headers["X-Colorizer-Points"] = json.dumps([{"asked": hint["color"], "shown": "#7f8fb8", "exact": False}
                                                        for hint in json.loads(hints.group(1))])
        route.fulfill(status=200, content_type="image/jpeg", body=gray.getvalue(), headers=headers)
    page.route("**/colorize", answer)
    choose(page, video_server, film)
    click_photo(page, *POINT)
    page.click(".swatch[aria-label=navy]")
    settle(page)
    note = page.inner_text("#point-note")
    assert "This frame is too light here for that color; shown" in note and "photo" not in note


def test_cancel_stops_the_job_and_removes_it(browser, video_server, film, frame_delay):
    frame_delay(0.5)  # long enough to cancel in the middle
    page = new_page(browser, color_scheme="dark")  # and the progress legible in the dark scheme
    choose(page, video_server, film)
    page.click("#submit")
    page.wait_for_function("() => /Colorizing: [1-9]/.test(document.getElementById('video-progress-text').textContent)",
                           timeout=60_000)
    job = page.get_attribute("#video", "data-job")
    assert page.eval_on_selector("#video-bar", "bar => bar.value") > 0
    faint = [(text, round(ratio, 2)) for text, ratio in page.evaluate(CONTRAST)["texts"] if ratio < 4.5]
    assert not faint, f"text below 4.5:1 contrast: {faint}"
    page.click("#video-cancel")
    page.wait_for_selector("#video[data-state=cancelled]", state="attached")
    assert "cancelled" in page.inner_text("#notice") and page.is_hidden("#video") and page.is_visible("#result")
    answer = page.request.get(f"{video_server}/videos/{job}")
    assert answer.status == 404 or answer.json()["state"] == "cancelled"
    assert page.is_enabled("#submit") and page.is_enabled("#vividness")  # the same video can be sent again


def test_a_refused_video_is_said_in_words(browser, video_server, tmp_path):
    page = new_page(browser)
    page.goto(video_server)
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"not a film at all" * 100)
    page.set_input_files("#image", str(fake))
    page.wait_for_selector("#notice:not([hidden])")  # the browser cannot show it: said, the server still asked
    assert "cannot show this video" in page.inner_text("#notice")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "video" in page.inner_text("#error").lower() and page.is_hidden("#video")

    page.route("**/videos", lambda route: route.fulfill(
        status=503, content_type="application/json", headers={"Retry-After": "60"},
        body='{"error": "The video queue is full (4 videos waiting); try again later."}'))
    page.set_input_files("#image", str(write_film(tmp_path)))
    page.wait_for_selector("#compare:not(.pending)", timeout=60_000)
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == ("The video queue is full (4 videos waiting); try again later. "
                                         "Try again in 60 seconds.")
    assert page.is_enabled("#submit") and page.is_visible("#result")


def write_film(folder: Path) -> Path:
    path = folder / "short.mp4"
    path.write_bytes(synthetic_video(6, (64, 48)))
    return path


def test_a_phone_gets_touch_words_for_a_video(browser, video_server, tmp_path):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    choose(page, video_server, write_film(tmp_path))
    words = page.inner_text("body")
    assert "Choose a photo or a video" in words and "Tap it to fix a color" in words and "Tap the frame" in words
    for mouse_words in ("click", "drop"):
        assert mouse_words not in words.lower(), f"'{mouse_words}' on a touch screen"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
    context.close()


# The /colorize requests' fields, the image as its (width, height) decoded in the page.
RECORD_PREVIEWS = """
    window.__previews = [];
    const fetched = window.fetch;
    window.fetch = async function (url, options) {
        if (String(url).endsWith("/colorize") && options && options.body instanceof FormData) {
            const fields = {};
            for (const [name, value] of options.body.entries()) {
                if (typeof value === "string") { fields[name] = value; continue; }
                const bitmap = await createImageBitmap(value);
                fields[name] = [bitmap.width, bitmap.height];
            }
            window.__previews.push(fields);
        }
        return fetched.apply(this, arguments);
    };
"""


def test_the_first_frame_is_previewed_whole_as_the_film_is_colorized(browser, video_server, tmp_path):
    """The preview of a film wider than the page's reduced copies (1024) sends its first frame whole, at the
    model's own size and without repair: what the server colorizes is then the film's first frame, to the bit
    (tests/app/test_videos.py checks the server's side)."""
    film = tmp_path / "wide.mp4"
    film.write_bytes(synthetic_video(4, (1280, 720)))
    page = new_page(browser)
    page.add_init_script(RECORD_PREVIEWS)
    choose(page, video_server, film)
    click_photo(page, *POINT)
    page.click(".swatch[aria-label=navy]")
    settle(page)
    working_size = page.request.get(f"{video_server}/healthz").json()["model"]["working_size"]
    previews = page.evaluate("window.__previews")
    assert len(previews) >= 2 and "hints" in previews[-1]  # the first look, and the one with the point
    assert all(sent["image"] == [1280, 720] and sent["restore"] == "off" and sent["size"] == str(working_size)
               for sent in previews), previews


def colour_reference(film: Path, path: Path) -> Path:
    """The film's first frame as a colour photo (its orange bar): a reference whose regions match the film's."""
    with av.open(str(film)) as container:
        first = next(container.decode(video=0)).to_image()
    first.save(path, quality=92)
    return path


def finished(page, video_server) -> dict:
    """Waits for the job the page sent to be done -> its JSON (GET /videos/ID)."""
    page.wait_for_function("() => document.getElementById('video').dataset.job", timeout=60_000)
    job = page.get_attribute("#video", "data-job")
    page.wait_for_selector("#video[data-state=done]", timeout=120_000)
    return page.request.get(f"{video_server}/videos/{job}").json()


def test_a_film_is_sent_with_the_reference_shown_beside_it_and_without_it_once_removed(browser, video_server, film,
                                                                                     frame_delay, tmp_path):
    """The reference field is offered for a film as for a photo: its first frame is previewed with it, the job is sent
    with it (POST /videos's reference field) and the finished film shown with it and the share of its frames that the
    job reports; once removed, the next job is sent without one."""
    frame_delay(0.02)
    reference = colour_reference(film, tmp_path / "in colour.jpg")
    page = new_page(browser)
    problems = watched(page)
    page.add_init_script(RECORD_SENDS)
    page.add_init_script(RECORD_PREVIEWS)
    choose(page, video_server, film)
    assert page.is_visible("#reference-drop") and page.is_hidden("#reference-shown")

    count = len(page.evaluate("window.__previews"))
    page.set_input_files("#reference", str(reference))  # the first frame is colorized again with it
    page.wait_for_function("(count) => window.__previews.length > count", arg=count)
    page.wait_for_selector("#reference-share:text('of the frame')", timeout=60_000)
    settle(page)
    assert "reference" in page.evaluate("window.__previews")[-1]
    assert page.is_visible("#reference-shown") and reference.name in page.inner_text("#reference-name")

    page.click("#submit")
    assert page.is_disabled("#reference")  # sent with the video: not to be changed while it is colorized
    record = finished(page, video_server)
    assert page.evaluate("window.__sent")[-1]["reference"] > 0  # the field, a file (its size in bytes)
    share = record["reference_share"]  # the job read it
    assert 0 <= share <= 1, record
    words = page.inner_text("#video-reference")
    assert page.is_visible("#video-reference-img") and reference.name in words
    assert (f"On average {round(100 * share)}% of each frame" if share > 0 else "Nothing in the film matched") in words
    shown, film_shown = page.locator("#video-reference-img").bounding_box(), page.locator("#video-after").bounding_box()
    assert 0 < shown["width"] <= 130 and shown["width"] < film_shown["width"] / 2  # small, beside the film

    page.click("#video-edit")  # back to the first frame, where the reference is removed
    assert page.is_enabled("#reference") and page.is_visible("#reference-shown")
    page.click("#reference-remove")
    settle(page)
    assert page.is_hidden("#reference-shown") and "reference" not in page.evaluate("window.__previews")[-1]
    page.click("#submit")
    record = finished(page, video_server)
    (first, second) = page.evaluate("window.__sent")
    assert "reference" in first and "reference" not in second
    assert "reference_share" not in record and page.is_hidden("#video-reference")
    assert not problems, f"the page logged errors: {problems}"


def test_a_reference_the_server_refuses_for_a_film_is_said_in_words(browser, video_server, film, tmp_path):
    """A gray reference (no colours to give) is refused by POST /videos with a 422 naming the field: its message is
    the page's error, as a photo's is, and the film can be sent again."""
    gray = tmp_path / "gray.png"
    Image.new("RGB", (96, 64), (128, 128, 128)).save(gray)
    page = new_page(browser)
    choose(page, video_server, film)
    page.set_input_files("#reference", str(gray))
    settle(page)  # its first frame is refused too: the same words
    with page.expect_response(lambda response: response.url.endswith("/videos")) as answered:
        page.click("#submit")
    response = answered.value
    assert response.status == 422 and response.json()["error"].startswith("reference"), response.json()
    page.wait_for_selector("#video[data-state=ended]", state="attached")
    assert page.inner_text("#error") == response.json()["error"] and page.is_hidden("#video")
    assert page.is_enabled("#submit") and page.is_enabled("#reference")
