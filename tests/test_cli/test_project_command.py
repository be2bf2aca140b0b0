"""s2edit project end to end: outputs per image, overwrite refusal, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).parents[1] / "fixtures"


def s2edit(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def _write_targets(tmp_path):
    from projector.images import save_image
    from stylegan2_core import load_generator, z_from_seeds

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    with torch.no_grad():
        imgs = G(z_from_seeds([21, 22], G.z_dim))
    save_image(tmp_path / "a.png", imgs[0])
    save_image(tmp_path / "b.png", imgs[1])


def test_project_two_images(tmp_path):
    _write_targets(tmp_path)
    out = tmp_path / "out"
    args = ["project", tmp_path / "a.png", tmp_path / "b.png", "--network", FIXTURES / "ada_tiny.pkl", "--steps", "3",
            "--refine-steps", "2", "--outdir", out, "--loss", "effnet", "--device", "cpu", "--save-video",
            "--video-every", "1"]
    r = s2edit(*args)
    assert r.returncode == 0, r.stderr
    for name in ("a", "b"):
        d = out / name
        assert {p.name for p in d.iterdir()} == {"target.png", "proj.png", "projected_w.npz", "latent.safetensors",
                                                 "report.json", "proj.mp4", "s2edit-outputs.json"}
        report = json.loads((d / "report.json").read_text())
        assert report["steps"] == 5 and report["loss"] == "effnet" and np.isfinite(report["psnr_db"])
        assert np.load(d / "projected_w.npz")["w"].shape == (1, 8, 64)
    import imageio

    with imageio.get_reader(out / "a" / "proj.mp4") as reader:
        frames = [f for f in reader]  # noqa: C416 (list() would ask len(): inf for ffmpeg)
    assert len(frames) == 5 and frames[0].shape[:2] == (32, 64)  # 3 Adam steps and 2 L-BFGS iterations
    before = (out / "a" / "proj.png").read_bytes()
    r = s2edit(*args)
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert (out / "a" / "proj.png").read_bytes() == before


def test_project_bad_inputs(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    r = s2edit("project", tmp_path / "empty.png", "--network", FIXTURES / "ada_tiny.pkl", "--steps", "1",
               "--outdir", tmp_path / "o")
    assert r.returncode == 2 and "empty.png: empty file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "dir").mkdir()
    r = s2edit("project", tmp_path / "dir", "--network", FIXTURES / "ada_tiny.pkl", "--outdir", tmp_path / "o")
    assert r.returncode == 2 and "holds no images" in r.stderr


def test_edit_at_zero_strength_redraws_the_projection(tmp_path):
    from projector import ProjectorConfig, project
    from projector.images import Preprocessing
    from projector.outputs import write_projection
    from stylegan2_core import load_generator, z_from_seeds

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    with torch.no_grad():
        target = G(z_from_seeds([31], G.z_dim))
    cfg = ProjectorConfig(steps=3, w_avg_samples=500)
    result = project(G, target, cfg, distance=lambda a, b: (a - b).square().mean(dim=(1, 2, 3)))
    write_projection(tmp_path / "p", result, 0, target, G, cfg, Preprocessing("crop", (32, 32), 32), "t.png")
    net = FIXTURES / "ada_tiny.pkl"
    assert s2edit("directions", "sefa", "--network", net, "--output", tmp_path / "sefa.npz").returncode == 0
    r = s2edit("edit", tmp_path / "p" / "latent.safetensors", "--network", net, "--direction", tmp_path / "sefa.npz",
               "--strength", "-2,0,2", "--outdir", tmp_path / "e")
    assert r.returncode == 0, r.stderr
    import imageio.v3 as iio

    zero = next((tmp_path / "e").glob("*_+0.00.png"))
    assert np.array_equal(iio.imread(zero), iio.imread(tmp_path / "p" / "proj.png"))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_an_unreadable_photo_fails_alone(tmp_path):
    _write_targets(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    r = s2edit("project", tmp_path, "--network", FIXTURES / "ada_tiny.pkl", "--steps", "1", "--refine-steps", "0",
               "--outdir", out, "--loss", "effnet", "--device", "cpu")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(_error_lines(r.stderr)) == 1 and "1 of 3 images failed (broken.png)" in r.stderr, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [("failed" in entry) for entry in summary["images"]] == [False, False, True]
    assert "broken.png" in summary["images"][2]["failed"]
    assert all((out / name / "latent.safetensors").is_file() for name in ("a", "b"))


def test_resume_refuses_a_state_of_another_space(tmp_path):
    from projector import ProjectorConfig
    from projector.batch import ProjectionJob, state_path
    from projector.distributed import project_sharded
    from stylegan2_core import load_generator
    from stylegan2_core.errors import Interrupted

    _write_targets(tmp_path)
    photo, out = tmp_path / "a.png", tmp_path / "out"
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    cfg = ProjectorConfig.preset("fast", steps=3, refine_steps=0)  # W+ after the first step
    stops = iter([False, True])
    with pytest.raises(Interrupted):
        project_sharded(G, [photo], ProjectionJob(out, cfg, distance=lambda a, b: (a - b).square().mean(dim=(1, 2, 3))),
                        should_stop=lambda: next(stops))
    state = state_path(out, photo)
    before = state.read_bytes()
    r = s2edit("project", photo, "--network", FIXTURES / "ada_tiny.pkl", "--steps", "3", "--refine-steps", "0",
               "--space", "w", "--outdir", out, "--loss", "effnet", "--device", "cpu", "--resume")
    errors = _error_lines(r.stderr)
    assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(state) in errors[0] and "space 'w+' (now 'w')" in errors[0], errors[0]
    assert state.read_bytes() == before
    r = s2edit("project", photo, "--network", FIXTURES / "ada_tiny.pkl", "--outdir", out, "--device", "cpu")
    assert r.returncode == 2 and "--resume" in r.stderr and "--force" in r.stderr, r.stderr


def _tiny_encoder_file(path: Path) -> Path:
    """An encoder file for ada_tiny: freshly initialised, its head biases set at random (a fixed answer other
    than w_avg)."""
    from projector.encoder import Encoder, EncoderConfig, save_encoder
    from stylegan2_core import load_generator, model_id

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    encoder = Encoder(EncoderConfig(resolution=32, num_ws=G.num_ws, w_dim=G.w_dim, working_resolution=32,
                                    channel_base=256, channel_max=32, blocks=1, head_channels=32, passes=2))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for head in encoder.heads.values():
            head.bias.copy_(0.3 * torch.randn(head.bias.shape, generator=gen))
    return save_encoder(path, encoder, model_id(G), network="ada_tiny")


def test_project_instant_preset_and_edit_renders_its_proj_png(tmp_path):
    from projector.images import read_image

    _write_targets(tmp_path)
    enc = _tiny_encoder_file(tmp_path / "enc.safetensors")
    out = tmp_path / "out"
    r = s2edit("project", tmp_path / "a.png", "--network", FIXTURES / "ada_tiny.pkl", "--encoder", enc,
               "--preset", "instant", "--outdir", out, "--loss", "effnet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    folder = out / "a"
    assert {"target.png", "proj.png", "projected_w.npz", "latent.safetensors", "report.json"} <= {
        p.name for p in folder.iterdir()}
    report = json.loads((folder / "report.json").read_text())
    assert report["steps"] == 0 and report["noise"] == "fixed" and np.isfinite(report["psnr_db"])
    assert report["seconds"] >= 0 and np.isfinite(report["perceptual_distance"])
    r = s2edit("directions", "sefa", "--network", FIXTURES / "ada_tiny.pkl", "-k", 1, "--output", tmp_path / "d.npz")
    assert r.returncode == 0, r.stderr
    r = s2edit("edit", folder / "latent.safetensors", "--network", FIXTURES / "ada_tiny.pkl", "-d", tmp_path / "d.npz",
               "--strength", "0", "--outdir", tmp_path / "e", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    edited = [p for p in (tmp_path / "e").glob("*.png") if not p.name.endswith("_strip.png")]
    assert len(edited) == 1
    diff = np.abs(read_image(edited[0]) - read_image(folder / "proj.png")).max()
    assert diff <= 1 / 255 + 1e-6  # the same image, up to one level of rounding


def test_project_instant_without_an_encoder_is_one_line(tmp_path):
    _write_targets(tmp_path)
    r = s2edit("project", tmp_path / "a.png", "--network", FIXTURES / "ada_tiny.pkl", "--preset", "instant",
               "--outdir", tmp_path / "o", "--loss", "effnet", "--device", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "no encoder was found" in lines[0] and "s2edit train-encoder" in lines[0]
    assert not (tmp_path / "o").exists()


def test_project_fast_starts_from_the_named_encoder(tmp_path):
    _write_targets(tmp_path)
    enc = _tiny_encoder_file(tmp_path / "enc.safetensors")
    out = tmp_path / "out"
    # explicit steps set the encoder-started schedule too (the preset's own: test_encoder_start.py), kept short here
    r = s2edit("project", tmp_path / "a.png", "--network", FIXTURES / "ada_tiny.pkl", "--encoder", enc, "--outdir",
               out, "--loss", "effnet", "--device", "cpu", "--steps", 4, "--refine-steps", 2)
    assert r.returncode == 0, r.stderr
    from stylegan2_core.fileio import read_metadata

    meta = read_metadata(out / "a" / "latent.safetensors")
    assert meta["projector"]["init_samples"] == 0 and meta["projector"]["steps"] == 4
    report = json.loads((out / "a" / "report.json").read_text())
    assert report["steps"] == 4 + 2
