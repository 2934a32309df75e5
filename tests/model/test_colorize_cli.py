import numpy as np
import pytest
from PIL import Image

from model.colorize import main
from tests.conftest import held_out_old_print, synthetic_photo


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
    # below the folder the inputs share: in/a.jpg, in/nested/b.PNG and c.png
    assert size_and_format(out / "in" / "a.jpg") == ((90, 60), "JPEG")
    assert size_and_format(out / "in" / "nested" / "b.jpg") == ((50, 70), "JPEG")
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
    assert (out / "a.jpg").exists() and (out / "nested" / "b.jpg").exists()
    assert sorted(p.name for p in out.rglob("*")) == ["a.jpg", "b.jpg", "nested"]


def test_a_missing_input_is_reported(tmp_path, tiny_weights, capsys):
    assert main([str(tmp_path / "nothing.jpg"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_inputs_are_never_overwritten(inputs, tiny_weights, capsys):
    before = (inputs / "a.jpg").read_bytes()
    assert main([str(inputs / "a.jpg"), "-o", str(inputs), "--weights", str(tiny_weights)]) == 1
    assert (inputs / "a.jpg").read_bytes() == before
    assert "would overwrite an input" in capsys.readouterr().err


def test_the_folder_structure_is_kept_below_the_output(tmp_path, tiny_weights):
    for folder in ("x/a", "x/b", "y"):
        (tmp_path / folder).mkdir(parents=True)
    for path in ("x/a/same.jpg", "x/b/same.jpg", "y/same.jpg"):
        synthetic_photo(4).save(tmp_path / path)
    out = tmp_path / "out"
    assert main([str(tmp_path / "x"), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == ["a/same.jpg", "b/same.jpg"]
    both = tmp_path / "both"  # two folders: each keeps its name below the folder they share
    assert main([str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(both), "--weights", str(tiny_weights)]) == 0
    assert sorted(str(p.relative_to(both)) for p in both.rglob("*.jpg")) == ["x/a/same.jpg", "x/b/same.jpg", "y/same.jpg"]


def test_two_inputs_with_one_output_name_are_reported_not_renamed(tmp_path, tiny_weights, capsys):
    synthetic_photo(4).save(tmp_path / "same.jpg")
    synthetic_photo(5).save(tmp_path / "same.png")
    out = tmp_path / "out"
    assert main([str(tmp_path / "same.jpg"), str(tmp_path / "same.png"), "-o", str(out),
                 "--weights", str(tiny_weights)]) == 1
    assert "same.png: skipped, its output" in capsys.readouterr().err and [p.name for p in out.iterdir()] == ["same.jpg"]


def test_existing_outputs_are_left_and_reported_unless_overwrite(inputs, tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "a.jpg").write_bytes(b"my own file")
    assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert (out / "a.jpg").read_bytes() == b"my own file"
    assert "left 1 existing output(s) as they were" in capsys.readouterr().out
    assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights), "--overwrite"]) == 0
    assert size_and_format(out / "a.jpg") == ((90, 60), "JPEG")


def test_the_size_option_reaches_the_network_and_jpeg_quality_is_the_servers(inputs, tmp_path, tiny_weights):
    from model.colorizer import Colorizer
    from model.formats import DEFAULT_QUALITY, encode
    colorizer = Colorizer.load(tiny_weights)
    with Image.open(inputs / "a.jpg") as photo:
        expected = {size: encode(colorizer(photo, size=size), "jpeg", DEFAULT_QUALITY) for size in (32, 96)}
    assert expected[32] != expected[96]  # the working size changes the colours
    for size in (32, 96):
        out = tmp_path / f"out{size}"
        assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights), "--size", str(size),
                     "--format", "jpeg"]) == 0
        assert (out / "a.jpg").read_bytes() == expected[size]


def test_the_vividness_option_reaches_the_colorizer(inputs, tmp_path, tiny_weights):
    from model.colorizer import Colorizer
    from model.formats import encode
    colorizer = Colorizer.load(tiny_weights)
    with Image.open(inputs / "a.jpg") as photo:
        expected = {text: encode(colorizer(photo, vividness=float(text)), "png") for text in ("0", "1.7")}
        assert encode(colorizer(photo), "png") not in expected.values()  # each differs from the default
    for text, data in expected.items():
        out = tmp_path / f"out{text}"
        assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights), "--format", "png",
                     "--vividness", text]) == 0
        assert (out / "a.png").read_bytes() == data, f"--vividness {text}"
    with Image.open(tmp_path / "out0" / "a.png") as gray:
        pixels = np.asarray(gray.convert("RGB"), dtype=int)
    assert np.abs(pixels - pixels[..., :1]).max() <= 1  # vividness 0: no colour at all


def test_hints_for_a_model_without_a_hint_layer_are_reported(inputs, tmp_path, format1_weights, capsys):
    points = tmp_path / "points.json"
    points.write_text('[{"x": 30, "y": 20, "color": "#2040c0"}]')
    assert main([str(inputs / "a.jpg"), "--hints", str(points), "-o", str(tmp_path / "out"),
                 "--weights", str(format1_weights)]) == 1
    assert "a.jpg: hints: this model was trained without colour points" in capsys.readouterr().err


def test_hints_and_vividness_for_a_single_photo(inputs, tmp_path, echo_weights, capsys):
    import json
    from model.color import rgb_to_lab_np
    points = tmp_path / "points.json"
    points.write_text(json.dumps([{"x": 30, "y": 20, "color": "#2040c0"}]))
    out = tmp_path / "out"
    assert main([str(inputs / "a.jpg"), "--hints", str(points), "-o", str(out), "--weights", str(echo_weights),
                 "--format", "png", "--vividness", "1.5"]) == 0
    with Image.open(out / "a.png") as result:
        ab = rgb_to_lab_np(np.asarray(result.convert("RGB")))[20, 30, 1:]
    assert ab[1] < -20  # blue, where the point was
    with pytest.raises(SystemExit):  # hints are for one photo
        main([str(inputs), "--hints", str(points), "-o", str(out), "--weights", str(echo_weights)])
    points.write_text("[{")
    with pytest.raises(SystemExit):
        main([str(inputs / "a.jpg"), "--hints", str(points), "-o", str(out), "--weights", str(echo_weights)])
    assert "is not valid JSON" in capsys.readouterr().err
    points.write_text(json.dumps([{"x": 500, "y": 20, "color": "#2040c0"}]))
    assert main([str(inputs / "a.jpg"), "--hints", str(points), "-o", str(tmp_path / "o2"),
                 "--weights", str(echo_weights)]) == 1
    assert "x = 500 is outside the image, which is 90 pixels wide" in capsys.readouterr().err


def test_the_size_help_gives_the_range_and_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "32 to 1024 (default: the model's own, 192" in help_text


def test_missing_weights_exit_with_a_message(inputs, tmp_path, capsys):
    assert main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "no weights file" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,message", [
    ("--size", "5", "size must be a whole number of pixels from 32 to 1024"), ("--size", "big", "got 'big'"),
    ("--quality", "101", "from 1 to 100"), ("--format", "gif", "invalid choice"),
    ("--vividness", "3", "vividness must be a number from 0"), ("--vividness", "nan", "got 'nan'")])
def test_bad_options_are_usage_errors(inputs, tmp_path, tiny_weights, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), flag, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["auto", "on", "OFF"])
def test_restore_modes_are_accepted(inputs, tmp_path, tiny_weights, value):
    out = tmp_path / "out"
    assert main([str(inputs / "a.jpg"), "-o", str(out), "--weights", str(tiny_weights), "--restore", value]) == 0
    assert size_and_format(out / "a.jpg") == ((90, 60), "JPEG")


def test_the_summary_counts_the_photos_repaired(inputs, tmp_path, tiny_weights, capsys):
    Image.fromarray(held_out_old_print()[1]).save(inputs / "old.png")  # a print made old, beside two clean photos
    assert main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]) == 0
    assert "1 photo repaired first" in capsys.readouterr().out
    assert main([str(inputs), "-o", str(tmp_path / "off"), "--weights", str(tiny_weights), "--restore", "off"]) == 0
    assert "repaired" not in capsys.readouterr().out


def test_a_bad_restore_mode_is_a_usage_error(inputs, tmp_path, tiny_weights, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(inputs), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--restore", "maybe"])
    assert exit_info.value.code == 2 and "--restore" in capsys.readouterr().err


@pytest.mark.parametrize("flags, made, summary", [
    ([], ["a.jpg", "clip.mp4", "nested/b.jpg"], "colorized 3 of 3 files (2 photos, 1 film)"),
    (["--no-videos"], ["a.jpg", "nested/b.jpg"], "colorized 2 of 2 files (2 photos)"),
])
def test_films_in_a_folder_are_colorized_too_unless_left_out(inputs, tmp_path, tiny_weights, capsys, flags, made,
                                                              summary):
    from model.film import probe
    from tests.model.test_video import make_video
    make_video(inputs / "clip.mkv", frames=5)
    out = tmp_path / "out"
    assert main([str(inputs), "--output", str(out), "--weights", str(tiny_weights), *flags]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == made
    assert summary in capsys.readouterr().out
    if "clip.mp4" in made:
        assert probe(out / "clip.mp4").frames == 5


def test_one_reference_gives_its_colours_to_every_photo_named(tmp_path, echo_encoder_weights, capsys, monkeypatch):
    from model.colorizer import Colorizer
    from model.color import rgb_to_lab_np
    from tests.model.test_reference import BLUE, RED, WIDTH, checks, stripes, two_textures
    folder = tmp_path / "scans"
    folder.mkdir()
    for name, seed in (("one.png", 0), ("two.png", 5)):
        two_textures(stripes, checks, seed=seed).save(folder / name)
    reference = tmp_path / "colour.png"
    two_textures(checks, stripes, colours=(BLUE, RED), seed=1).save(reference)
    prepared = []  # the reference is opened and prepared once, whatever the number of photos
    prepare = Colorizer.prepare_reference
    monkeypatch.setattr(Colorizer, "prepare_reference", lambda self, image: prepared.append(1) or prepare(self, image))
    out = tmp_path / "out"
    assert main([str(folder), "--reference", str(reference), "-o", str(out), "--weights", str(echo_encoder_weights),
                 "--format", "png", "--restore", "off"]) == 0
    assert len(prepared) == 1
    for name in ("one.png", "two.png"):
        with Image.open(out / name) as result:
            lab = rgb_to_lab_np(np.asarray(result.convert("RGB")))
        left, right = lab[:, 8:WIDTH // 2 - 8, 1:].mean(axis=(0, 1)), lab[:, WIDTH // 2 + 8:-8, 1:].mean(axis=(0, 1))
        assert left[0] > 20 and left[1] > 10, f"{name}: the striped half should be red, got ab {left}"
        assert right[1] < -8 and right[0] < left[0] - 20, f"{name}: the checked half should be blue, got ab {right}"
    assert "the reference's colours went to" in capsys.readouterr().out


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_bytes(b"not an image"), "--reference: cannot read"),
    (lambda path: Image.new("RGB", (64, 48), (128, 128, 128)).save(path, "PNG"), "is a gray photo"),
    (lambda path: None, "--reference: cannot read"),  # no such file
])
def test_a_bad_reference_is_a_usage_error_naming_the_option(inputs, tmp_path, echo_encoder_weights, capsys, make,
                                                             message):
    reference = tmp_path / "reference.png"
    make(reference)
    with pytest.raises(SystemExit) as exit_:
        main([str(inputs), "--reference", str(reference), "-o", str(tmp_path / "out"),
              "--weights", str(echo_encoder_weights)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--reference" in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_reference_for_a_model_without_an_encoder_is_a_usage_error(inputs, tmp_path, tiny_weights, capsys):
    reference = tmp_path / "colour.png"
    synthetic_photo(5).save(reference)
    with pytest.raises(SystemExit) as exit_:
        main([str(inputs), "--reference", str(reference), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    assert exit_.value.code == 2 and "--reference" in capsys.readouterr().err


def test_a_film_takes_the_reference_as_the_photos_do(inputs, tmp_path, echo_encoder_weights, capsys):
    from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures
    from tests.model.test_video import decoded, halves_ab, two_texture_frames, write_gray_film
    write_gray_film(inputs / "clip.mkv", two_texture_frames(4))
    reference = tmp_path / "colour.png"
    two_textures(checks, stripes, colours=(BLUE, RED), seed=1).save(reference)
    out = tmp_path / "out"
    assert main([str(inputs / "clip.mkv"), "--reference", str(reference), "-o", str(out), "--restore", "off",
                 "--weights", str(echo_encoder_weights)]) == 0
    frames = decoded(out / "clip.mp4")[0]
    assert len(frames) == 4
    left, right = halves_ab(frames[-1])
    assert left[0] > 15 and right[1] < -8, f"the reference's red and blue on their textures, got {left}, {right}"
    assert "the reference's colours went to" in capsys.readouterr().out
