"""`pip install .` gives a working colorizer outside the repository: the command, the page's files, the weights."""
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import synthetic_photo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new virtual environment with the project installed by pip; torch and the rest come from the environment
    running the tests, so the test installs none of them again.

    Not `--system-site-packages`: that reaches the base Python's packages, and when the tests run in a virtual
    environment (as the README's command is usually run) those lack torch and the rest. Instead a .pth file in the
    new environment adds the running interpreter's own site folders, whichever they are."""
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    probe = "import sysconfig; print(sysconfig.get_path('purelib'))"
    inner = subprocess.run([str(folder / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                           check=True).stdout.strip()
    (Path(inner) / "outer_site_packages.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in site_folders()))
    result = subprocess.run([str(folder / "bin" / "pip"), "install", "--no-deps", "--quiet", str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def site_folders() -> list[str]:
    """The site-packages folders of the interpreter running the tests: a virtual environment's own, or the base
    Python's (and the user's, when it is enabled) when there is none."""
    folders = [*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return [folder for folder in dict.fromkeys(folders) if Path(folder).is_dir()]


def test_the_new_environment_reaches_this_ones_packages_and_not_the_checkout(venv, tmp_path):
    probe = "import torch, flask, model; print(torch.__file__); print(model.__file__)"
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    torch_file, model_file = (Path(line) for line in result.stdout.split())
    import torch
    assert torch_file == Path(torch.__file__)  # this environment's torch, not another Python's
    assert venv.resolve() in model_file.resolve().parents  # the project as pip installed it


def test_the_installed_command_colorizes_from_another_folder(venv, tmp_path):
    synthetic_photo(1, (120, 90)).convert("L").save(tmp_path / "photo.jpg")
    result = subprocess.run([str(venv / "bin" / "colorize"), "photo.jpg", "--output", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "photo.jpg").stat().st_size > 0


def test_the_installed_package_has_its_page_and_weights_outside_the_checkout(venv, tmp_path):
    probe = ("import app, model.weights as w, model.restore as r, pathlib; "
             "print(app.page_files('templates')); print(app.page_files('static')); print(w.DEFAULT_WEIGHTS); "
             "print(r.DEFAULT_DETECTOR); print(r.FACE_CASCADE)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    templates, static, weights, detector, faces = (Path(line) for line in result.stdout.split())
    for path in (templates, static, weights, detector, faces):
        assert ROOT not in path.parents and path.exists(), path  # the installed copies, not the repository's
    assert (templates / "index.html").exists() and (static / "app.js").exists()
    assert weights.read_bytes() == (ROOT / "weights" / "colorizer.pt").read_bytes()
    assert detector.read_bytes() == (ROOT / "weights" / "damage.pt").read_bytes()
    assert faces.name == "haarcascade_frontalface_default.xml"
