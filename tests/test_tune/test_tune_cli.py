"""s2edit project --tune end to end on the demo network, and edit/mix using the tuned generator it recorded."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from projector.images import read_image
from stylegan2_core.fileio import read_metadata, sha256_file

PHOTO = Path(__file__).parents[2] / "examples" / "data" / "world_face.png"


def s2edit(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def _one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_project_tune_then_edit_and_mix(tmp_path):
    out = tmp_path / "out"
    r = s2edit("project", PHOTO, "--network", "demo", "--tune", "--steps", 2, "--tune-steps", 2, "--loss", "effnet",
               "--outdir", out)
    assert r.returncode == 0, r.stderr
    folder = out / "world_face"
    tuned = folder / "tuned.safetensors"
    meta = read_metadata(folder / "latent.safetensors")
    assert meta["tuned"] == {"file": "tuned.safetensors", "sha256": sha256_file(tuned)}
    assert read_metadata(tuned)["kind"] == "tuned"
    report = json.loads((folder / "report.json").read_text())
    assert report["tuned"]["steps"] == 2 and {"psnr_db", "ssim", "perceptual_distance", "seconds"} <= set(report["tuned"])
    assert "psnr_db" in report and "seconds" in report  # the pivot's figures stay at the top level
    assert report["space"] == meta["space"] == "w"  # PTI's W pivot, whatever the preset's space

    r = s2edit("directions", "svm", "--network", "demo", "--attribute", "smile", "--samples", 20,
               "--output", tmp_path / "smile.npz")
    assert r.returncode == 0, r.stderr
    edits = {}
    for name, extra in (("tuned", []), ("base", ["--no-tuned"])):
        r = s2edit("edit", folder / "latent.safetensors", "--network", "demo", "--direction", tmp_path / "smile.npz",
                   "--strength", "0,2", "--outdir", tmp_path / name, *extra)
        assert r.returncode == 0, r.stderr
        assert ("tuned generator" in r.stderr) == (name == "tuned")
        images = sorted(p for p in (tmp_path / name).glob("*.png") if not p.name.endswith("_strip.png"))
        assert len(images) == 2
        edits[name] = images
    proj = read_image(folder / "proj.png")
    diff = {k: float(np.abs(read_image(v[0]) - proj).mean()) for k, v in edits.items()}  # strength 0 first
    assert diff["tuned"] < diff["base"]

    r = s2edit("mix", "--network", "demo", "--rows", folder / "latent.safetensors", "--cols", "1", "--styles", "0-3",
               "--outdir", tmp_path / "mix")
    assert r.returncode == 0 and "tuned generator" in r.stderr, r.stderr

    tuned.write_bytes(tuned.read_bytes()[:100])
    r = s2edit("edit", folder / "latent.safetensors", "--network", "demo", "--direction", tmp_path / "smile.npz",
               "--strength", "1", "--outdir", tmp_path / "broken")
    assert "tuned.safetensors" in _one_line_error(r)
    tuned.unlink()
    r = s2edit("edit", folder / "latent.safetensors", "--network", "demo", "--direction", tmp_path / "smile.npz",
               "--strength", "1", "--outdir", tmp_path / "missing")
    assert "not found" in _one_line_error(r)


def test_project_tune_with_the_encoder_pivot(tmp_path):
    """--pivot encoder: the encoder's inversion is the pivot (no optimization before tuning), then tuning."""
    import torch

    from projector.encoder import Encoder, EncoderConfig, save_encoder
    from stylegan2_core import load_generator, model_id

    net = Path(__file__).parents[1] / "fixtures" / "ada_tiny.pkl"
    G = load_generator(net)
    encoder = Encoder(EncoderConfig(resolution=32, num_ws=G.num_ws, w_dim=G.w_dim, working_resolution=32,
                                    channel_base=256, channel_max=32, blocks=1, head_channels=32, passes=2))
    enc = save_encoder(tmp_path / "enc.safetensors", encoder, model_id(G))
    from projector.images import save_image

    with torch.no_grad():
        save_image(tmp_path / "p.png", G(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(5)))[0])
    out = tmp_path / "out"
    r = s2edit("project", tmp_path / "p.png", "--network", net, "--tune", "--pivot", "encoder", "--encoder", enc,
               "--tune-steps", 2, "--loss", "effnet", "--device", "cpu", "--outdir", out)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "p" / "report.json").read_text())
    assert report["steps"] == 0 and report["space"] == "w+" and report["tuned"]["steps"] == 2
    meta = read_metadata(out / "p" / "latent.safetensors")
    assert meta["projector"]["encoder_only"] and meta["tuned"]["file"] == "tuned.safetensors"
    pivot = torch.as_tensor(np.load(out / "p" / "projected_w.npz")["w"])
    torch.testing.assert_close(pivot, G.mapping.w_avg.reshape(1, 1, -1).expand_as(pivot))  # untrained: w_avg
    r = s2edit("project", tmp_path / "p.png", "--network", net, "--tune", "--pivot", "encoder", "--encoder", "none",
               "--loss", "effnet", "--device", "cpu", "--outdir", tmp_path / "o2")
    assert "no encoder was found" in _one_line_error(r)
