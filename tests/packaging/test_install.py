"""`pip install .` gives a working colorizer outside the repository: the command, the page's files, the weights."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import synthetic_photo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new virtual environment with the project installed by pip; torch and the rest come from this one's
    site-packages (--system-site-packages), so the test does not download them again."""
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(folder)], check=True)
    result = subprocess.run([str(folder / "bin" / "pip"), "install", "--no-deps", "--quiet", str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_the_installed_command_colorizes_from_another_folder(venv, tmp_path):
    synthetic_photo(1, (120, 90)).convert("L").save(tmp_path / "photo.jpg")
    result = subprocess.run([str(venv / "bin" / "colorize"), "photo.jpg", "--output", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "photo.jpg").stat().st_size > 0


def test_the_installed_package_has_its_page_and_weights_outside_the_checkout(venv, tmp_path):
    probe = ("import app, model.weights as w, pathlib; "
             "print(app.page_files('templates')); print(app.page_files('static')); print(w.DEFAULT_WEIGHTS)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    templates, static, weights = (Path(line) for line in result.stdout.split())
    for path in (templates, static, weights):
        assert ROOT not in path.parents and path.exists(), path  # the installed copies, not the repository's
    assert (templates / "index.html").exists() and (static / "app.js").exists()
    assert weights.read_bytes() == (ROOT / "weights" / "colorizer.pt").read_bytes()
