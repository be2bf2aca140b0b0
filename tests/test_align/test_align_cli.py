"""``s2edit align`` and ``s2edit paste`` end to end on a photo file."""

import json

import cv2
import numpy as np
import pytest
import skimage.data
import typer
from typer.testing import CliRunner

from cli.commands import align as align_command
from cli.commands import paste as paste_command
from stylegan2_core.errors import InputError


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("align")(align_command.align_command)
    app.command("paste")(paste_command.paste_command)
    return app


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_align_then_paste(app, photo, tmp_path):
    runner = CliRunner()
    outdir = tmp_path / "aligned"
    result = runner.invoke(app, ["align", str(photo), "--outdir", str(outdir), "--size", "128"])
    assert result.exit_code == 0, result.output
    aligned = cv2.imread(str(outdir / "astronaut.png"))
    assert aligned.shape == (128, 128, 3)
    record = json.loads((outdir / "astronaut.json").read_text())
    assert record["size"] == 128 and record["source"].endswith("astronaut.jpg")

    again = runner.invoke(app, ["align", str(photo), "--outdir", str(outdir)])
    assert isinstance(again.exception, InputError) and "--force" in str(again.exception)

    edited = tmp_path / "edited.png"
    cv2.imwrite(str(edited), 255 - aligned)
    out = tmp_path / "pasted.png"
    args = ["paste", str(photo), str(edited), "--alignment", str(outdir / "astronaut.json"), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    original = cv2.imread(str(photo)).astype(int)
    pasted = cv2.imread(str(out)).astype(int)
    x0, y0, x1, y1 = np.array(record["box"]).astype(int)
    face = (slice(y0 + 20, y1 - 20), slice(x0 + 20, x1 - 20))
    assert np.abs(pasted[face] - (255 - original[face])).mean() < 12  # the inverted edit is in place
    assert np.abs(pasted[:, :100] - original[:, :100]).max() == 0  # away from the face, nothing changed

    refused = runner.invoke(app, args)
    assert isinstance(refused.exception, InputError)
    assert runner.invoke(app, args + ["--force"]).exit_code == 0


def test_align_all_faces_names(app, photo, tmp_path):
    result = CliRunner().invoke(app, ["align", str(photo), "--outdir", str(tmp_path / "o"), "--all", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["astronaut_face0.json", "astronaut_face0.png"]
