"""The procedural world: determinism, label ranges, every factor visible, files on disk, CLI."""

import csv

import cv2
import numpy as np
import pytest
import torch

from projector.world import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    WorldDataset,
    render,
    render_batch,
    render_from_labels,
    sample_labels,
    write_world,
)
from stylegan2_core.errors import InputError
from stylegan2_core.image import from_uint8

torch.set_num_threads(1)

BASE = {
    "smile": 0.2,
    "eye_openness": 0.7,
    "skin_tone": 0.3,
    "hair_color": 0.3,
    "hair_length": 0.5,
    "glasses": 0.0,
    "shift_x": 0.0,
    "shift_y": 0.0,
    "tilt": 0.0,
    "background_hue": 0.4,
    "lighting": 0.0,
}


def _with(**changes):
    return {**BASE, **changes}


def test_attribute_specs():
    assert tuple(BASE) == ATTRIBUTE_NAMES
    for spec in ATTRIBUTES:
        assert spec.kind in ("continuous", "binary")
        assert spec.low < spec.high and spec.description


def test_same_seed_same_bytes():
    a, la = render(1234)
    b, lb = render(1234)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert a.tobytes() == b.tobytes() and la == lb
    assert render(1235)[0].tobytes() != a.tobytes()


@pytest.mark.parametrize("size", [32, 64, 128])
def test_sizes(size):
    image, _ = render(7, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8


def test_labels_in_range_and_distribution():
    labels = [sample_labels(s) for s in range(500)]
    for spec in ATTRIBUTES:
        values = np.array([lab[spec.name] for lab in labels])
        assert values.min() >= spec.low and values.max() <= spec.high
        if spec.kind == "binary":
            assert set(np.unique(values)) <= {0.0, 1.0}
            assert 0.2 < values.mean() < 0.4  # glasses ~ Bernoulli(0.3)
        else:  # spread over most of the range
            assert values.max() - values.min() > 0.6 * (spec.high - spec.low)


def test_render_is_render_from_labels_of_sampled_labels():
    for seed in (0, 99):
        image, labels = render(seed)
        assert labels == sample_labels(seed)
        assert np.array_equal(render_from_labels(labels), image)


@pytest.mark.parametrize("spec", ATTRIBUTES, ids=lambda s: s.name)
def test_each_attribute_changes_the_image(spec):
    low = render_from_labels(_with(**{spec.name: spec.low})).astype(np.float32)
    high = render_from_labels(_with(**{spec.name: spec.high})).astype(np.float32)
    diff = np.abs(low - high)
    assert diff.max() > 60, spec.name
    assert diff.mean() > 0.5, spec.name


def test_attribute_semantics():
    def gray(img):
        return img.astype(np.float32).mean(-1)

    # Lighting from the left brightens the figure's left side.
    left, right = gray(render_from_labels(_with(lighting=-1.0))), gray(render_from_labels(_with(lighting=1.0)))
    assert left[20:50, 16:32].mean() > right[20:50, 16:32].mean() + 10
    assert right[20:50, 32:48].mean() > left[20:50, 32:48].mean() + 10
    # Glasses add dark frame pixels.
    assert (gray(render_from_labels(_with(glasses=1.0))) < 60).sum() > (gray(render_from_labels(BASE)) < 60).sum() + 20
    # A head shifted right moves the dark hair mass right.
    black_hair = {"hair_color": 0.0}
    xs = [np.nonzero(gray(render_from_labels(_with(shift_x=v, **black_hair)))[:30] < 50)[1].mean() for v in (-1, 1)]
    assert xs[1] > xs[0] + 5
    # Darker skin tone, darker face centre.
    assert gray(render_from_labels(_with(skin_tone=1.0)))[30, 32] < gray(render_from_labels(_with(skin_tone=0.0)))[30, 32] - 80


def test_render_from_labels_rejects_bad_labels():
    with pytest.raises(InputError):
        render_from_labels({k: v for k, v in BASE.items() if k != "smile"})
    with pytest.raises(InputError):
        render_from_labels(_with(tilt=90.0))
    with pytest.raises(InputError):
        render_from_labels({**BASE, "beard": 1.0})


def test_render_batch_matches_render():
    images, labels = render_batch([5, 6, 7], 48)
    assert images.shape == (3, 48, 48, 3) and images.dtype == np.uint8
    assert labels.shape == (3, len(ATTRIBUTES)) and labels.dtype == np.float32
    image, lab = render(6, 48)
    assert np.array_equal(images[1], image)
    assert np.allclose(labels[1], [lab[n] for n in ATTRIBUTE_NAMES])


def test_dataset():
    ds = WorldDataset(count=4, size=32, start_seed=100)
    assert len(ds) == 4
    x, y = ds[2]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    image, labels = render(102, 32)
    assert torch.equal(x, from_uint8(image)[0])
    assert torch.allclose(y, torch.tensor([labels[n] for n in ATTRIBUTE_NAMES]))
    assert torch.equal(ds[2][0], x)
    with pytest.raises(IndexError):
        ds[4]
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4, len(ATTRIBUTES))


def test_write_world(tmp_path):
    calls = []
    csv_path = write_world(tmp_path / "w", 5, size=32, start_seed=10, progress=lambda d, t: calls.append((d, t)))
    assert csv_path == tmp_path / "w" / "labels.csv"
    assert calls == [(i, 5) for i in range(1, 6)]
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["file", "seed", *ATTRIBUTE_NAMES]
    assert [int(r["seed"]) for r in rows] == list(range(10, 15))
    for row in rows:
        seed = int(row["seed"])
        assert row["file"] == f"world_{seed:06d}.png"
        image, labels = render(seed, 32)
        assert {n: float(row[n]) for n in ATTRIBUTE_NAMES} == labels
        png = cv2.cvtColor(cv2.imread(str(tmp_path / "w" / row["file"])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(png, image)


def test_cli_world(tmp_path):
    import typer
    from typer.testing import CliRunner

    from cli.commands import world as world_cmd

    app = typer.Typer()
    app.command("world")(world_cmd.world_command)
    app.command("noop")(lambda: None)  # keeps "world" a named subcommand
    runner = CliRunner()
    out = tmp_path / "data"
    args = ["world", "--count", "3", "--outdir", str(out), "--size", "32", "--start-seed", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", *(f"world_{s:06d}.png" for s in (4, 5, 6))]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InputError)
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
