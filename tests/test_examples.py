"""Every example runs as documented (with small settings)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _run(script, *args):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)], capture_output=True,
                       text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def test_generate_images(tmp_path):
    _run("generate_images.py", "--outdir", tmp_path, "--seeds", "0", "1")
    assert (tmp_path / "seed0001.png").is_file()


def test_project_image(tmp_path):
    r = _run("project_image.py", "--outdir", tmp_path, "--steps", "3")
    assert (tmp_path / "proj.png").is_file() and "PSNR" in r.stdout


def test_edit_latent(tmp_path):
    _run("edit_latent.py", "--outdir", tmp_path)
    assert (tmp_path / "sefa0_+3.png").is_file() and (tmp_path / "mix_0_coarse_from_1.png").is_file()
