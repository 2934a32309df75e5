import pytest
from PIL import Image

from model.colorize import main
from tests.conftest import synthetic_photo


def size_and_format(path) -> tuple:
    with Image.open(path) as image:
        return image.size, image.format


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    synthetic_photo(1, (90, 60)).convert("L").save(folder / "a.jpg")
    synthetic_photo(2, (50, 70)).convert("L").save(folder / "nested" / "b.PNG")
    return folder


def test_folder_and_file_inputs_are_colorized_at_their_size(inputs, tmp_path, tiny_weights):
    extra = tmp_path / "c.png"
    synthetic_photo(3, (40, 40)).save(extra)
    out = tmp_path / "out"
    assert main([str(inputs), str(extra), "--output", str(out), "--weights", str(tiny_weights)]) == 0
    assert size_and_format(out / "a.jpg") == ((90, 60), "JPEG")
    assert size_and_format(out / "b.jpg") == ((50, 70), "JPEG")
    assert size_and_format(out / "c.jpg") == ((40, 40), "JPEG")


def test_png_format_and_size(inputs, tmp_path, tiny_weights):
    out = tmp_path / "out"
    assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights),
                 "--format", "png", "--size", "64"]) == 0
    assert size_and_format(out / "a.png") == ((90, 60), "PNG")


def test_an_unreadable_file_is_reported_skipped_and_fails_the_exit_code(inputs, tmp_path, tiny_weights, capsys):
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    out = tmp_path / "out"
    assert main([str(inputs), "-o", str(out), "--weights", str(tiny_weights)]) == 1
    assert "broken.jpg: cannot read it as an image" in capsys.readouterr().err
    assert (out / "a.jpg").exists() and (out / "b.jpg").exists() and not (out / "broken.jpg").exists()


def test_a_missing_input_is_reported(tmp_path, tiny_weights, capsys):
    assert main([str(tmp_path / "nothing.jpg"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_inputs_are_never_overwritten(inputs, tiny_weights, capsys):
    before = (inputs / "a.jpg").read_bytes()
    assert main([str(inputs / "a.jpg"), "-o", str(inputs), "--weights", str(tiny_weights)]) == 1
    assert (inputs / "a.jpg").read_bytes() == before
    assert "would overwrite an input" in capsys.readouterr().err


def test_inputs_sharing_a_stem_get_distinct_outputs(tmp_path, tiny_weights):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        synthetic_photo(4).save(tmp_path / folder / "same.jpg")
    out = tmp_path / "out"
    assert main([str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["same-2.jpg", "same.jpg"]


def test_missing_weights_exit_with_a_message(inputs, tmp_path, capsys):
    assert main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "no weights file" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--size", "5"), ("--quality", "101"), ("--format", "gif")])
def test_bad_options_are_usage_errors(inputs, tmp_path, tiny_weights, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), flag, value])
    assert exit_info.value.code == 2
