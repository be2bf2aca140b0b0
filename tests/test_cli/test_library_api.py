"""What the CLI does, a Python user can call: the library functions behind the commands give the same outputs."""

import json
from importlib import import_module
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from projector.images import image_grid
from stylegan2_core import InputError, class_labels, load_generator, to_uint8, z_from_seeds, z_samples
from stylegan2_core.latent import sample_ws

FIXTURES = Path(__file__).parents[1] / "fixtures"
NET = str(FIXTURES / "ada_tiny.pkl")


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    for name in ("project", "generate", "edit", "metrics"):
        app.command(name)(getattr(import_module(f"cli.commands.{name}"), f"{name}_command"))
    return app


def run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_sample_ws_matches_both_seed_conventions(G):
    with torch.no_grad():
        per_seed = G.mapping(z_from_seeds([3, 5], G.z_dim), None, truncation_psi=0.7)
        stream = G.mapping(z_samples(4, G.z_dim, 11), None)
    assert torch.equal(sample_ws(G, [3, 5], truncation_psi=0.7), per_seed)
    assert torch.equal(sample_ws(G, num=4, seed=11), stream)
    with pytest.raises(InputError):
        sample_ws(G, [1], num=2, seed=0)
    with pytest.raises(InputError):
        sample_ws(G, num=2)


def test_sample_ws_broadcasts_a_class_label():
    Gc = load_generator(FIXTURES / "ada_tiny_cond.pkl")
    c = class_labels(1, Gc.c_dim)
    with torch.no_grad():
        expected = Gc.mapping(z_from_seeds([0, 1], Gc.z_dim), c.repeat(2, 1))
    assert torch.equal(sample_ws(Gc, [0, 1], c=c), expected)


def test_generate_seed_images_are_the_generator_images_and_grid(G, tmp_path):
    from projector.generate import generate_seed_images

    paths = generate_seed_images(G, [0, 1, 2], tmp_path, grid=True, batch_size=2)
    assert [p.name for p in paths] == ["seed0000.png", "seed0001.png", "seed0002.png", "grid.png"]
    with torch.no_grad():
        expected = to_uint8(G(z_from_seeds([0, 1, 2], G.z_dim), noise_mode="const"))
    images = np.stack([iio.imread(p) for p in paths[:3]])
    assert np.abs(images.astype(int) - expected).max() <= 1
    grid = iio.imread(paths[3])
    assert np.array_equal(grid, image_grid(images, cols=2))  # ceil(sqrt(3)) = 2 columns, last cell black


def test_project_files_writes_what_the_cli_writes(app, G, tmp_path):
    from projector import DEFAULT_PRESET, ProjectorConfig
    from projector.batch import ProjectionJob, project_files, projection_outputs
    from projector.images import save_image
    from projector.losses import make_perceptual

    with torch.no_grad():
        imgs = G(z_from_seeds([21, 22], G.z_dim))
    photos = [save_image(tmp_path / "a.png", imgs[0]), save_image(tmp_path / "b.png", imgs[1])]
    result = run(app, "project", *photos, "--network", NET, "--steps", "2", "--refine-steps", "1",
                 "--outdir", tmp_path / "cli", "--loss", "effnet", "--device", "cpu", "--seed", "4", "--batch-size", "1")
    assert result.exit_code == 0, (result.output, result.exception)
    cfg = ProjectorConfig.preset(DEFAULT_PRESET, steps=2, refine_steps=1, seed=4)  # what the CLI runs by default
    steps = []
    job = ProjectionJob(tmp_path / "lib", cfg, distance=make_perceptual("effnet", device="cpu")[0], batch_size=1)
    done = project_files(G, photos, job, callback=lambda batch, s: steps.append((batch[0].stem, s.step)))
    assert steps == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert [d.outdir.name for d in done] == ["a", "b"]
    assert all(p.is_file() for p in projection_outputs(photos, tmp_path / "lib"))
    for name in ("a", "b"):
        cli_w = np.load(tmp_path / "cli" / name / "projected_w.npz")["w"]
        lib_w = np.load(tmp_path / "lib" / name / "projected_w.npz")["w"]
        assert np.array_equal(cli_w, lib_w)
        cli_report, lib_report = (json.loads((tmp_path / d / name / "report.json").read_text())
                                  for d in ("cli", "lib"))
        for report in (cli_report, lib_report):
            report.pop("seconds")
        assert cli_report == lib_report and lib_report["seed"] == {"a": 4, "b": 5}[name]  # seed + i over all images


def test_render_edit_strip_images_and_saved_noise(G, tmp_path):
    from projector.edits import DirectionSet, parse_strengths, plan_edit, render_edit, save_directions
    from projector.latent_file import save_latent

    direction = torch.zeros(G.w_dim)
    direction[0] = 1
    save_directions(tmp_path / "d.npz", DirectionSet(direction[None], ["x"], "test"))
    ws = sample_ws(G, [7])
    noise = [torch.randn([1, 1, h, w], generator=torch.Generator().manual_seed(i))
             for i, (h, w) in enumerate(G.synthesis.noise_shapes())]
    save_latent(tmp_path / "me.safetensors", ws, noise)
    plan = plan_edit(G, str(tmp_path / "me.safetensors"), tmp_path / "d.npz", parse_strengths("-2:2:3"))
    assert plan.image_names == ["me_x_-2.00.png", "me_x_+0.00.png", "me_x_+2.00.png"] and plan.noise
    written = render_edit(G, plan, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted([*plan.image_names, "me_x_strip.png"])
    images = np.stack([iio.imread(tmp_path / "out" / n) for n in plan.image_names])
    assert np.array_equal(iio.imread(tmp_path / "out" / "me_x_strip.png"), image_grid(images, cols=3, rows=1))
    with torch.no_grad():  # strength 0 with the saved noise redraws the latent's own image
        expected = to_uint8(G.synthesis(ws, noise=noise))[0]
    assert np.abs(images[1].astype(int) - expected).max() <= 1
    with pytest.raises(InputError, match="nothing to write"):
        render_edit(G, plan)


def test_metrics_json_is_not_overwritten_without_force(app, tmp_path):
    existing = tmp_path / "m.json"
    existing.write_text("{}")
    result = run(app, "metrics", "--network", NET, "--metrics", "ppl", "--ppl-samples", "2", "--json", existing)
    assert isinstance(result.exception, InputError) and "--force" in str(result.exception)
    assert existing.read_text() == "{}"
