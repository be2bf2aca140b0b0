"""s2edit generate / info / convert on StyleGAN3 networks: in process, and through the real entry point for
the one-line errors."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stylegan2_core import InputError, load_generator, to_uint8

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def app():
    from cli.app import app

    return app


def run(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failure(app, *args) -> BaseException:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code != 0
    return result.exception


def test_generate_translate_rotate_matches_gen_images(app, tmp_path):
    run(app, "generate", "--network", FIXTURES / "sg3t_tiny.pkl", "--seeds", "0-2,7", "--translate", "0.1,-0.05",
        "--rotate", "10", "--outdir", tmp_path / "out")
    ref = np.load(FIXTURES / "sg3t_tiny.ref.npz")
    expected = to_uint8(torch.from_numpy(ref["img_psi1_translate_rotate"])).astype(int)
    plain = ref["uint8_psi1"].astype(int)
    for i, seed in enumerate(ref["seeds"]):
        img = iio.imread(tmp_path / "out" / f"seed{seed:04d}.png").astype(int)
        assert np.abs(img - expected[i]).max() <= 1
        assert np.abs(img - plain[i]).max() > 10  # moved, not the untransformed image


def test_generate_conditional_sg3_with_class(app, tmp_path):
    run(app, "generate", "-n", FIXTURES / "sg3r_tiny_cond.pkl", "--seeds", "2", "--class", "2",
        "--outdir", tmp_path / "c")
    ref = np.load(FIXTURES / "sg3r_tiny_cond.ref.npz")["uint8_psi1"][2].astype(int)  # seed 2 has class 2
    assert np.abs(iio.imread(tmp_path / "c" / "seed0002.png").astype(int) - ref).max() <= 1


def test_bad_translate_and_stylegan2_refusals(app, tmp_path):
    err = failure(app, "generate", "-n", FIXTURES / "sg3t_tiny.pkl", "--seeds", "0", "--translate", "0.1",
                  "--outdir", tmp_path / "b")
    assert isinstance(err, InputError) and "bad --translate" in str(err)
    err = failure(app, "convert", FIXTURES / "sg3t_tiny.pkl", tmp_path / "g.pt")
    assert isinstance(err, InputError) and "StyleGAN2 generators only" in str(err)
    assert not (tmp_path / "g.pt").exists()


def test_rotate_on_stylegan2_is_a_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "generate", "-n", str(FIXTURES / "ada_tiny.pkl"), "--seeds", "0",
                        "--rotate", "5", "--outdir", str(tmp_path / "a")], capture_output=True, text=True, timeout=300)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr
    assert "ada_tiny.pkl" in errors[0] and "need a StyleGAN3 network" in errors[0]
    assert not (tmp_path / "a" / "seed0000.png").exists()


def test_info_names_the_config(app):
    for name, variant in (("sg3t_tiny.pkl", "stylegan3-t"), ("sg3r_tiny_cond.pkl", "stylegan3-r")):
        out = run(app, "info", FIXTURES / name).output
        assert variant in out and "stylegan3-pkl" in out and "num_ws" in out


def test_convert_to_native_and_back(app, tmp_path):
    native = tmp_path / "g.safetensors"
    run(app, "convert", FIXTURES / "sg3r_tiny_cond.pkl", native)
    again = tmp_path / "again.safetensors"
    run(app, "convert", native, again)
    out = run(app, "info", again).output
    assert "stylegan3-r" in out and "s2edit-native" in out
    G, G2 = load_generator(FIXTURES / "sg3r_tiny_cond.pkl"), load_generator(again)
    assert G2.checkpoint.model_id == G.checkpoint.model_id
    z, c = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(0)), torch.eye(4)[:2]
    with torch.no_grad():
        assert torch.equal(G(z, c), G2(z, c))

