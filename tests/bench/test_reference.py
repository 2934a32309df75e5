"""bench.reference: the films' table, on clips made here (tests never read the development clips)."""
import pytest

from bench import reference
from tests.model.test_reference import BLUE, RED, checks, stripes, two_textures


@pytest.mark.slow  # films through the bench: the whole run has it
def test_the_films_table_has_a_row_a_clip_both_memories_and_the_targets(tmp_path, echo_encoder_weights, capsys):
    """Two clips of two textures in colour (stripes red and checks blue, then the other way round), their noise new
    in each frame: each colorized as a film without a reference and with its last frame, the shot's memory on and
    off. The echo net has no colour of its own: only the reference gives colour, and PSNR rises with it."""
    for name, colours in (("blue_checks", (RED, BLUE)), ("red_checks", (BLUE, RED))):
        (tmp_path / name).mkdir()
        for index in range(8):
            frame = two_textures(stripes, checks, colours=colours, seed=index)
            frame.save(tmp_path / name / f"{index:05d}.jpg", quality=95)
    reference.main(["--clips", str(tmp_path), "--weights", str(echo_encoder_weights), "--tables", "films",
                    "--frames", "6"])
    out = capsys.readouterr().out
    for memory in ("on", "off"):
        table = out.split(f"the shot's memory {memory}:")[1].split("\n\n")[0]
        rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
        assert set(rows) >= {"blue_checks", "red_checks", "**mean of 2**"}
        for name in ("blue_checks", "red_checks"):
            cells = [cell.strip() for cell in rows[name].strip("|").split("|")]
            assert cells[1] == "6"  # --frames
            without, with_ = float(cells[2]), float(cells[3].split()[0])
            assert with_ > without + 3, rows[name]  # the reference's colours on the two textures
            assert float(cells[7].rstrip("%")) > 50  # most of each keyframe matched
    assert "with its last frame: PSNR +" in out and "(asked: at least +2)" in out
    assert "The shot's memory, on against off" in out
