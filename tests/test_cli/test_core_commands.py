"""The core commands end to end, through the real entry point (error boundary included)."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"


def s2edit(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_generate_matches_official_uint8(tmp_path):
    r = s2edit("generate", "--network", FIXTURES / "ada_tiny.pkl", "--seeds", "0-3", "--outdir", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    ref = np.load(FIXTURES / "ada_tiny.ref.npz")["img_psi1_const_uint8"]
    for i in range(4):
        img = iio.imread(tmp_path / "out" / f"seed{i:04d}.png")
        assert img.shape == (32, 32, 3)
        assert np.abs(img.astype(int) - ref[i].astype(int)).max() <= 1


def test_generate_refuses_overwrite_and_conditional_needs_class(tmp_path):
    out = tmp_path / "o"
    assert s2edit("generate", "-n", FIXTURES / "ada_tiny.pkl", "--seeds", "0", "--outdir", out).returncode == 0
    before = (out / "seed0000.png").read_bytes()
    r = s2edit("generate", "-n", FIXTURES / "ada_tiny.pkl", "--seeds", "0", "--trunc", "0.5", "--outdir", out)
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert (out / "seed0000.png").read_bytes() == before
    r = s2edit("generate", "-n", FIXTURES / "ada_tiny_cond.pkl", "--seeds", "0", "--outdir", tmp_path / "c")
    assert r.returncode == 2 and "--class" in r.stderr
    r = s2edit("generate", "-n", FIXTURES / "ada_tiny_cond.pkl", "--seeds", "0", "--class", "7", "--outdir", tmp_path / "c")
    assert r.returncode == 2 and "out of range" in r.stderr
    r = s2edit("generate", "-n", FIXTURES / "ada_tiny_cond.pkl", "--seeds", "0-1", "--class", "3", "--grid", "--outdir", tmp_path / "c")
    assert r.returncode == 0 and (tmp_path / "c" / "grid.png").is_file()


@pytest.mark.parametrize("args,needle", [
    (["generate", "-n", "nonexistent.pkl", "--seeds", "0"], "no such file"),
    (["generate", "-n", str(FIXTURES / "ada_tiny.pkl"), "--seeds", "3-1"], "bad seed range"),
    (["generate", "-n", str(FIXTURES / "ada_tiny.pkl"), "--seeds", "a"], "bad seed list"),
    (["info", str(FIXTURES / "README.md")], "unknown checkpoint format"),
])
def test_bad_input_is_one_line(args, needle):
    r = s2edit(*args)
    assert r.returncode != 0
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("error:")]) == 1


def test_debug_shows_traceback(tmp_path):
    r = s2edit("--debug", "generate", "-n", "nonexistent.pkl", "--seeds", "0")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_truncated_pickle_cli(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes((FIXTURES / "ada_tiny.pkl").read_bytes()[:5000])
    r = s2edit("info", bad)
    assert r.returncode == 2 and str(bad) in r.stderr and "Traceback" not in r.stderr


def test_info_and_ops():
    r = s2edit("info", FIXTURES / "ada_tiny_cond.pkl")
    assert r.returncode == 0, r.stderr
    for needle in ("stylegan2-ada-pkl", "num_ws", "16px, 32px", "268,467"):
        assert needle in r.stdout
    r = s2edit("info", "--ops", env={**__import__("os").environ, "S2EDIT_OPS": "ref"})
    assert r.returncode == 0 and "S2EDIT_OPS" in r.stdout and "ref" in r.stdout


def test_convert_round_trip(tmp_path):
    out = tmp_path / "g.safetensors"
    r = s2edit("convert", FIXTURES / "tf_tiny.pkl", out)
    assert r.returncode == 0, r.stderr
    r = s2edit("convert", out, tmp_path / "g.pt")
    assert r.returncode == 0, r.stderr
    for net in (out, tmp_path / "g.pt"):
        r = s2edit("generate", "-n", net, "--seeds", "0", "--outdir", tmp_path / net.suffix[1:])
        assert r.returncode == 0, r.stderr
    a = iio.imread(tmp_path / "safetensors" / "seed0000.png")
    b = iio.imread(tmp_path / "pt" / "seed0000.png")
    assert np.array_equal(a, b)
    r = s2edit("convert", FIXTURES / "tf_tiny.pkl", out)
    assert r.returncode == 2 and "--force" in r.stderr


def test_every_command_has_help():
    import typer

    from cli.app import app

    group = typer.main.get_command(app)
    assert {"generate", "info", "convert"} <= set(group.commands)
    for name, cmd in group.commands.items():
        r = s2edit(name, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout, name
        for sub in getattr(cmd, "commands", {}):
            assert s2edit(name, sub, "--help").returncode == 0, f"{name} {sub}"
