"""The upload page in real headless Chromium (Debian's chromium, driven by Playwright).

Set SCREENSHOT_DIR to keep the screenshots (docs/ holds one), and BROWSER_TEST_PHOTO to upload a photo of
your own instead of the synthetic one.
"""
import io
import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import synthetic_photo

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tiny_weights):
    from werkzeug.serving import make_server
    from app import create_app
    from model.weights import DEFAULT_WEIGHTS
    weights = DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.exists() else tiny_weights  # what a user would see, when shipped
    httpd = make_server("127.0.0.1", 0, create_app({"WEIGHTS": str(weights)}), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def photo(tmp_path) -> Path:
    if os.environ.get("BROWSER_TEST_PHOTO"):
        return Path(os.environ["BROWSER_TEST_PHOTO"])
    path = tmp_path / "old photo.jpg"
    synthetic_photo(11, (240, 160)).convert("L").save(path, quality=92)
    return path


def keep(path: Path, name: str) -> None:
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)


def test_upload_colorize_compare_and_download(browser, server, photo, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server)
    assert page.title().startswith("Colorizer")

    page.set_input_files("#image", str(photo))
    page.wait_for_selector("#before[src]")
    assert page.is_visible("#result") and photo.name in page.inner_text("#file-name")

    page.click("#submit")
    page.wait_for_selector("#compare:not(.pending)", timeout=60_000)
    with Image.open(photo) as original:
        size = original.size
    natural = page.eval_on_selector("#after", "img => [img.naturalWidth, img.naturalHeight]")
    assert tuple(natural) == size
    assert page.is_hidden("#status") and page.is_hidden("#error")
    page.screenshot(path=tmp_path / "page.png", full_page=True)  # the divider in the middle: half and half
    keep(tmp_path / "page.png", "screenshot.png")

    page.fill("#slider", "20")  # the slider moves the dividing line
    assert "80%" in page.eval_on_selector("#after", "img => img.style.clipPath")

    with page.expect_download() as download_info:
        page.click("#download")
    downloaded = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(downloaded)
    assert downloaded.name.endswith("-color.jpg")
    with Image.open(downloaded) as result:
        assert result.format == "JPEG" and result.size == size and result.mode == "RGB"

    assert not problems, f"the page logged errors: {problems}"


def test_an_error_is_shown_in_words(browser, server, tmp_path):
    page = browser.new_page()
    page.goto(server)
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    page.set_input_files("#image", str(fake))
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image we can read" in page.inner_text("#error")


def test_the_page_fits_a_phone(browser, server, photo, tmp_path):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page.goto(server)
    page.set_input_files("#image", str(photo))
    page.click("#submit")
    page.wait_for_selector("#compare:not(.pending)", timeout=60_000)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
    button = page.eval_on_selector("#submit", "b => b.getBoundingClientRect().width")
    assert button > 300  # full width on a phone: an easy target
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    keep(tmp_path / "phone.png", "screenshot-phone.png")


def test_the_form_works_without_javascript(browser, server, photo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server)
    page.set_input_files("#image", str(photo))
    with page.expect_response(lambda response: response.url.endswith("/colorize")) as response_info:
        page.click("#submit")
    response = response_info.value
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.body())) as result, Image.open(photo) as original:
        assert result.size == original.size
    context.close()
