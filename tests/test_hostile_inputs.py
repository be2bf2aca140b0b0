"""The bad-input probe: every command, tried as a careless or hostile user would.

Each case runs the real entry point (``cli.app.main``, the error boundary included) and
asserts that the command refuses cleanly: exit code 2, exactly one ``error:`` line that
names the problem, no traceback, no existing file changed, no partial file left behind.
Rerun it with ``pytest tests/test_hostile_inputs.py -v``; the case count is printed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
WORLD_FACE = ROOT / "examples" / "data" / "world_face.png"
PARTIAL_MARKERS = (".tmp", ".part", ".partial")


def run_cli(args, cwd: Path, capsys) -> tuple[int, str, str]:
    """Run ``s2edit ARGS`` in-process in ``cwd``; returns (exit code, stdout, stderr)."""
    from cli.app import main

    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["s2edit", *map(str, args)]
    os.chdir(cwd)
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean_refusal(code: int, err: str, needle: str, before: dict, after: dict) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2, f"exit code {code}, expected 2; stderr:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(errors) == 1, f"expected one error line, got:\n{err}"
    assert needle.lower() in errors[0].lower(), f"{needle!r} not in {errors[0]!r}"
    changed = [p for p in before if after.get(p) != before[p]]
    assert not changed, f"existing files changed or removed: {changed}"
    partial = [p for p in after if p not in before and (p.endswith(PARTIAL_MARKERS) or Path(p).name.startswith("."))]
    assert not partial, f"partial files left: {partial}"


# --- Files the cases use, written into each test's sandbox ------------------------------------------------------


class _Hostile:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A small PNG whose header declares ``width`` x ``height`` (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (3 * min(width, 4096))
    idat = zlib.compress(row * 64, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _save_latent(path: Path, ws: torch.Tensor) -> None:
    from projector.latent_file import save_latent

    save_latent(path, ws)


def _tuned_latents(box: Path, G, ws: torch.Tensor) -> None:
    """Latents whose ``tuned`` entry points out of their folder, lacks the sha256, or names an update too large."""
    from projector.latent_file import save_latent
    from projector.tune import init_update
    from projector.tuned_file import save_tuned
    from stylegan2_core.fileio import sha256_file

    source = save_tuned(box / "tuned_src" / "tuned.safetensors", G, init_update(G))
    sha256 = sha256_file(source)
    gen = torch.Generator().manual_seed(1)
    for update in ("lora", "full"):  # a small update times 1e30: finite factors, overflowing weights or renders
        huge = {k: v * 1e30 if k.endswith(".lora_a") else 1e27 * torch.randn(v.shape, generator=gen)
                for k, v in init_update(G, update).items()}
        huge_file = save_tuned(box / f"tuned_huge_{update}" / "tuned.safetensors", G, huge)
        save_latent(huge_file.parent / "latent.safetensors", ws,
                    meta={"tuned": {"file": "tuned.safetensors", "sha256": sha256_file(huge_file)}})
    (box / "tuned_link").mkdir()
    (box / "tuned_link" / "tuned.safetensors").symlink_to(source)
    save_tuned(box / "tuned_nosha" / "tuned.safetensors", G, init_update(G))
    for name, entry in (("tuned_abs", {"file": str(source), "sha256": sha256}),
                        ("tuned_up", {"file": "../tuned_src/tuned.safetensors", "sha256": sha256}),
                        ("tuned_link", {"file": "tuned.safetensors", "sha256": sha256}),
                        ("tuned_nosha", {"file": "tuned.safetensors"})):
        save_latent(box / name / "latent.safetensors", ws, meta={"tuned": entry})


@pytest.fixture()
def sandbox(tmp_path):
    """A folder with good and bad inputs, and some existing outputs that must survive."""
    from stylegan2_core import load_generator

    G = load_generator("demo")
    box = tmp_path / "box"
    box.mkdir()
    (box / "empty.pkl").write_bytes(b"")
    (box / "text.pkl").write_text("this is not a checkpoint\n")
    (box / "random.pt").write_bytes(np.random.RandomState(0).bytes(4096))
    (box / "truncated.pkl").write_bytes((FIXTURES / "ada_tiny.pkl").read_bytes()[:2000])
    (box / "bad_header.safetensors").write_bytes(struct.pack("<Q", 40) + b'{"a": {"dtype": "F32", "shape": [9')
    with open(box / "hostile.pkl", "wb") as f:
        pickle.dump({"G_ema": _Hostile(str(box / "PWNED"))}, f)
    torch.save({"g_ema": _Hostile(str(box / "PWNED"))}, box / "hostile.pt")
    (box / "folder.pkl").mkdir()
    (box / "empty.png").write_bytes(b"")
    (box / "text.png").write_text("not an image")
    (box / "truncated.png").write_bytes(WORLD_FACE.read_bytes()[:300])
    _png_header_only(box / "bomb.png", 20000, 20000)
    _png_header_only(box / "huge.png", 60000, 60000)
    (box / "no_images").mkdir()
    (box / "no_images" / "notes.txt").write_text("nothing here")
    for name in ("a", "b"):
        (box / name).mkdir()
        (box / name / "face.png").write_bytes(WORLD_FACE.read_bytes())
    ws = G.mapping(torch.zeros([1, G.z_dim]), None)
    _save_latent(box / "good.safetensors", ws)
    nan_ws = ws.clone()
    nan_ws[0, 0, 0] = float("nan")
    from safetensors.torch import save_file

    save_file({"ws": nan_ws.contiguous()}, str(box / "nan.safetensors"))
    _save_latent(box / "wrong_dim.safetensors", torch.zeros([1, G.num_ws, G.w_dim + 1]))
    for name, seed in (("a", 1), ("b", 2)):  # two projections: both write latent.safetensors
        _save_latent(box / name / "latent.safetensors", G.mapping(torch.randn([1, G.z_dim],
                                                                              generator=torch.Generator().manual_seed(seed)), None))
    _save_latent(box / "huge.safetensors", ws * 1e30)
    _tuned_latents(box, G, ws)
    (box / "random.npz").write_bytes(np.random.RandomState(1).bytes(512))
    np.savez(box / "direction.npz", directions=np.eye(1, G.w_dim, dtype=np.float32))
    (box / "a_file").write_text("an output path that is a file")
    (box / "out").mkdir()
    (box / "out" / "seed0000.png").write_bytes(WORLD_FACE.read_bytes())
    (box / "existing.json").write_text("{}\n")
    (box / "existing.npz").write_bytes(b"keep me")
    return box


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple
    needle: str


def _free_port() -> str:
    """A port nobody listens on now: the studio cases must fail on their input, not on the port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


DEMO = ("--network", "demo")
STUDIO = ("studio", "--port", _free_port())
CASES = [
    # Corrupt and hostile checkpoints.
    Case("missing checkpoint", ("generate", "--network", "missing.pkl", "--seeds", "0", "--outdir", "g"), "no such file"),
    Case("empty checkpoint", ("generate", "--network", "empty.pkl", "--seeds", "0", "--outdir", "g"), "empty.pkl"),
    Case("text as checkpoint", ("generate", "--network", "text.pkl", "--seeds", "0", "--outdir", "g"), "text.pkl"),
    Case("random bytes .pt", ("generate", "--network", "random.pt", "--seeds", "0", "--outdir", "g"), "random.pt"),
    Case("truncated pickle", ("generate", "--network", "truncated.pkl", "--seeds", "0", "--outdir", "g"), "truncated.pkl"),
    Case("corrupt safetensors header", ("generate", "--network", "bad_header.safetensors", "--seeds", "0", "--outdir", "g"),
         "bad_header.safetensors"),
    Case("hostile pickle", ("generate", "--network", "hostile.pkl", "--seeds", "0", "--outdir", "g"), "hostile.pkl"),
    Case("hostile torch file", ("generate", "--network", "hostile.pt", "--seeds", "0", "--outdir", "g"), "hostile.pt"),
    Case("folder as checkpoint", ("generate", "--network", "folder.pkl", "--seeds", "0", "--outdir", "g"), "folder.pkl"),
    Case("latent as checkpoint", ("generate", "--network", "good.safetensors", "--seeds", "0", "--outdir", "g"), "latent"),
    Case("info on hostile pickle", ("info", "hostile.pkl"), "hostile.pkl"),
    Case("convert hostile pickle", ("convert", "hostile.pkl", "x.safetensors"), "hostile.pkl"),
    # Bad images.
    Case("missing image", ("project", "missing.png", *DEMO, "--steps", "1"), "missing.png"),
    Case("empty image", ("project", "empty.png", *DEMO, "--steps", "1"), "empty.png"),
    Case("text as image", ("project", "text.png", *DEMO, "--steps", "1"), "text.png"),
    Case("truncated image", ("project", "truncated.png", *DEMO, "--steps", "1"), "truncated.png"),
    Case("decompression bomb", ("project", "bomb.png", *DEMO, "--steps", "1"), "pixels"),
    Case("huge declared image", ("project", "huge.png", *DEMO, "--steps", "1"), "pixels"),
    Case("folder without images", ("project", "no_images", *DEMO, "--steps", "1"), "no images"),
    Case("align a bomb", ("align", "bomb.png", "--outdir", "al"), "pixels"),
    Case("paste with a JSON that is no alignment", ("paste", "a/face.png", "a/face.png", "--alignment",
                                                    "existing.json", "--output", "p.png"), "existing.json"),
    # Bad latents.
    Case("NaN latent", ("edit", "nan.safetensors", *DEMO, "--direction", "direction.npz", "--outdir", "e"), "nan"),
    Case("wrong w_dim latent", ("edit", "wrong_dim.safetensors", *DEMO, "--direction", "direction.npz",
                                "--outdir", "e"), "w_dim"),
    Case("random bytes latent", ("mix", *DEMO, "--rows", "random.npz", "--cols", "1", "--outdir", "m"), "random.npz"),
    Case("missing direction", ("edit", "good.safetensors", *DEMO, "--direction", "nope.npz", "--outdir", "e"),
         "nope.npz"),
    Case("latent as direction", ("edit", "good.safetensors", *DEMO, "--direction", "good.safetensors",
                                 "--outdir", "e"), "good.safetensors"),
    # Latents recording a tuned generator (s2edit project --tune) they may not use.
    Case("tuned file by absolute path", ("edit", "tuned_abs/latent.safetensors", *DEMO, "--direction", "direction.npz",
                                         "--outdir", "e"), "outside"),
    Case("tuned file up the tree", ("edit", "tuned_up/latent.safetensors", *DEMO, "--direction", "direction.npz",
                                    "--outdir", "e"), "outside"),
    Case("tuned file symlinked out", ("mix", *DEMO, "--rows", "tuned_link/latent.safetensors", "--cols", "1",
                                      "--outdir", "m"), "outside"),
    Case("tuned file without sha256", ("edit", "tuned_nosha/latent.safetensors", *DEMO, "--direction",
                                       "direction.npz", "--outdir", "e"), "sha256"),
    Case("huge low-rank tuned update", ("edit", "tuned_huge_lora/latent.safetensors", *DEMO, "--direction",
                                        "direction.npz", "--outdir", "e"), "nan or inf"),
    Case("huge full tuned update", ("edit", "tuned_huge_full/latent.safetensors", *DEMO, "--direction",
                                    "direction.npz", "--outdir", "e"), "nan or inf"),
    # Bad option values.
    Case("NaN truncation", ("generate", *DEMO, "--seeds", "0", "--trunc", "nan", "--outdir", "g"), "trunc"),
    Case("inf truncation", ("generate", *DEMO, "--seeds", "0", "--trunc", "inf", "--outdir", "g"), "trunc"),
    Case("inf strength", ("edit", "good.safetensors", *DEMO, "--direction", "direction.npz", "--strength", "inf",
                          "--outdir", "e"), "strength"),
    Case("NaN strength", ("edit", "good.safetensors", *DEMO, "--direction", "direction.npz", "--strength",
                          "0,nan", "--outdir", "e"), "strength"),
    Case("NaN mix truncation", ("mix", *DEMO, "--rows", "0", "--cols", "1", "--trunc", "nan", "--outdir", "m"),
         "trunc"),
    Case("NaN learning rate", ("project", "a/face.png", *DEMO, "--steps", "1", "--lr", "nan", "--outdir", "p"), "lr"),
    Case("inf video fps", ("video", *DEMO, "--seeds", "0,1", "--fps", "inf", "--output", "v.mp4"), "fps"),
    Case("absurd seed range", ("generate", *DEMO, "--seeds", "0-99999999", "--outdir", "g"), "seeds"),
    Case("bad seed list", ("generate", *DEMO, "--seeds", "zero", "--outdir", "g"), "seed"),
    Case("class on unconditional", ("generate", *DEMO, "--seeds", "0", "--class", "3", "--outdir", "g"),
         "unconditional"),
    Case("unknown device", ("generate", *DEMO, "--seeds", "0", "--device", "tpu9", "--outdir", "g"), "device"),
    Case("cuda without cuda", ("generate", *DEMO, "--seeds", "0", "--device", "cuda", "--outdir", "g"), "cuda"),
    Case("bad layer range", ("mix", *DEMO, "--rows", "0", "--cols", "1", "--styles", "3-99", "--outdir", "m"),
         "layer"),
    # Unwritable or clashing outputs.
    Case("outdir is a file", ("project", "a/face.png", *DEMO, "--steps", "1", "--outdir", "a_file"), "a_file"),
    Case("existing generate output", ("generate", *DEMO, "--seeds", "0", "--outdir", "out"), "--force"),
    Case("edit outdir is a file", ("edit", "good.safetensors", *DEMO, "--direction", "direction.npz",
                                   "--outdir", "a_file"), "a_file"),
    Case("generate outdir is a file", ("generate", *DEMO, "--seeds", "0", "--outdir", "a_file"), "a_file"),
    Case("video into a file's folder", ("video", *DEMO, "--seeds", "0,1", "--output", "a_file/v.mp4"), "a_file"),
    Case("directions output exists", ("directions", "sefa", *DEMO, "--output", "existing.npz"), "--force"),
    Case("convert output exists", ("convert", "demo", "good.safetensors"), "--force"),
    Case("metrics json exists", ("metrics", *DEMO, "--data", "world", "--metrics", "ppl", "--num", "8",
                                 "--json", "existing.json"), "--force"),
    Case("repeated direction", ("edit", "good.safetensors", *DEMO, "-d", "direction.npz", "-d", "direction.npz",
                                "--outdir", "e"), "--direction"),
    Case("too many strengths", ("edit", "good.safetensors", *DEMO, "-d", "direction.npz", "--strength",
                                "-3:3:100000", "--outdir", "e"), "strength"),
    Case("grid too large", ("generate", *DEMO, "--seeds", "0-9999", "--grid", "--outdir", "g"), "grid"),
    Case("duplicate stems", ("project", "a/face.png", "b/face.png", *DEMO, "--steps", "1", "--outdir", "p"), "face"),
    # The studio refuses before it serves.
    Case("studio hostile network", (*STUDIO, "--network", "hostile.pkl", "--outdir", "s"), "hostile.pkl"),
    Case("studio latent as directions", (*STUDIO, *DEMO, "--directions", "good.safetensors", "--outdir", "s"),
         "good.safetensors"),
    Case("studio outdir is a file", (*STUDIO, *DEMO, "--outdir", "a_file"), "a_file"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, sandbox, capsys):
    before = snapshot(sandbox)
    code, _, err = run_cli(case.args, sandbox, capsys)
    assert_clean_refusal(code, err, case.needle, before, snapshot(sandbox))
    assert not (sandbox / "PWNED").exists(), "a hostile checkpoint ran code"


def test_probe_size():
    """The probe keeps its breadth: at least 45 refusal cases across the commands."""
    commands = {c.args[0] for c in CASES}
    assert len(CASES) >= 45 and {"generate", "project", "edit", "mix", "video", "align", "paste", "directions",
                                 "convert", "metrics", "info"} <= commands


def test_latents_with_one_name_get_distinct_outputs(sandbox, capsys):
    """Every projection writes latent.safetensors: mixing two of them must write two cells, not one over the other."""
    code, _, err = run_cli(["mix", *DEMO, "--rows", "a/latent.safetensors,b/latent.safetensors", "--cols", "5",
                            "--outdir", "m"], sandbox, capsys)
    assert code == 0, err
    cells = sorted(p.name for p in (sandbox / "m").glob("*-5.png"))
    assert cells == ["a-5.png", "b-5.png"], cells
    from projector.latent_file import resolve_latents
    from stylegan2_core import load_generator

    G = load_generator("demo")
    _, labels = resolve_latents([str(sandbox / "a" / "face.png").replace("face.png", "latent.safetensors"),
                                 "3", "3"], G)
    assert labels == ["a", "3", "3-2"]


def test_latent_of_absurd_magnitude_warns(sandbox, caplog):
    from projector.latent_file import load_latent
    from stylegan2_core import load_generator

    with caplog.at_level("WARNING"):
        load_latent(sandbox / "huge.safetensors", load_generator("demo"))
    assert "far outside" in caplog.text


# --- Interrupts ---------------------------------------------------------------------------------------------------


def _interrupt_projection(tmp_path: Path, sig: int) -> subprocess.CompletedProcess:
    out = tmp_path / "proj"
    proc = subprocess.Popen([sys.executable, "-m", "cli", "project", str(WORLD_FACE), "--network", "demo",
                             "--steps", "200", "--outdir", str(out), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "world_face").is_dir():
        time.sleep(0.2)
    time.sleep(3.0)  # some steps into the optimization
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_projection_keeps_a_resumable_state(tmp_path, sig):
    r = _interrupt_projection(tmp_path, sig)
    folder = tmp_path / "proj" / "world_face"
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "--resume" in r.stderr, r.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith(PARTIAL_MARKERS)], names
    from stylegan2_core.fileio import read_metadata

    state = read_metadata(folder / "resume.safetensors")
    assert state["kind"] == "projection-state" and 0 < state["step"] < 200
    assert not (folder / "latent.safetensors").exists()  # the run did not finish: no final outputs yet
    # Resuming continues from the saved step and completes the outputs.
    r2 = subprocess.run([sys.executable, "-m", "cli", "project", str(WORLD_FACE), "--network", "demo", "--steps",
                         "200", "--outdir", str(tmp_path / "proj"), "--resume", "--device", "cpu"],
                        capture_output=True, text=True, timeout=900)
    assert r2.returncode == 0, r2.stderr
    report = json.loads((folder / "report.json").read_text())
    from projector import ProjectorConfig

    # The demo network's encoder starts the default preset: 200 steps + its encoder schedule's L-BFGS iterations.
    started = ProjectorConfig.preset("fast", steps=200).encoder_started()
    assert report["resumed_from_step"] == state["step"] and report["steps"] == started.total_steps
    assert (folder / "latent.safetensors").is_file() and (folder / "proj.png").is_file()
    assert not (folder / "resume.safetensors").exists()


def test_interrupted_tuning_keeps_the_pivot_and_a_resumable_state(tmp_path):
    """Ctrl-C during ``project --tune`` keeps the finished projection and the tuning so far; --resume goes on."""
    out = tmp_path / "proj"
    args = [sys.executable, "-m", "cli", "project", str(WORLD_FACE), "--network", "demo", "--steps", "2", "--tune",
            "--tune-steps", "40", "--loss", "effnet", "--outdir", str(out), "--device", "cpu"]
    folder = out / "world_face"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.time() + 300
    while time.time() < deadline and not (folder / "tune_resume.safetensors").is_file():  # the pivot, kept first
        time.sleep(0.2)
    time.sleep(1.0)  # some steps into the tuning
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "--resume" in stderr, stderr
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith(PARTIAL_MARKERS)], names
    from stylegan2_core.fileio import read_metadata

    state = read_metadata(folder / "tune_resume.safetensors")
    assert state["kind"] == "tune-state" and 0 < state["step"] < 40
    assert not (folder / "latent.safetensors").exists() and not (folder / "tuned.safetensors").exists()
    # Resuming starts from the kept pivot (no new projection) and the saved step, and completes the outputs.
    r2 = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=900)
    assert r2.returncode == 0, r2.stderr
    report = json.loads((folder / "report.json").read_text())
    assert report["seconds"] == round(state["pivot"]["seconds"], 3) and report["tuned"]["steps"] == 40
    assert (folder / "tuned.safetensors").is_file() and read_metadata(folder / "latent.safetensors")["tuned"]
    assert not (folder / "tune_resume.safetensors").exists()


# --- Small things a user trips on ---------------------------------------------------------------------------------


def _commands():
    import typer.main

    from cli.app import app

    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        for sub_name, sub in getattr(command, "commands", {name: command}).items():
            yield f"{name} {sub_name}" if sub_name != name else name, sub


def test_version_and_short_help(sandbox, capsys):
    from stylegan2_core import __version__

    code, out, _ = run_cli(["--version"], sandbox, capsys)
    assert code == 0 and out.strip() == f"s2edit {__version__}"
    code, out, _ = run_cli(["generate", "-h"], sandbox, capsys)
    assert code == 0 and "--seeds" in out


def test_short_options_and_defaults_mean_the_same_everywhere():
    networks, devices = set(), set()
    for name, command in _commands():
        for param in command.params:
            if "-n" in param.opts:
                networks.add((name, param.name))
            if param.name == "device":
                devices.add(param.default)
    assert {p for _, p in networks} == {"network"}, networks
    assert devices == {"auto"}, devices


def _float_options():
    """(command name, --flag) for every option annotated float or float | None."""
    import typing

    for name, command in _commands():
        hints = typing.get_type_hints(command.callback, include_extras=True)
        for hint in hints.values():
            if typing.get_origin(hint) is not typing.Annotated:
                continue
            base, *extras = typing.get_args(hint)
            if float not in (base, *typing.get_args(base)):
                continue
            info = next(e for e in extras if hasattr(e, "param_decls"))
            yield name, (info.param_decls or (info.default,))[0], info


def test_every_float_option_refuses_nan_and_inf():
    """Each float option of each command goes through the finite-number check (NaN gives black images);
    the end-to-end refusals are in CASES above."""
    import typer

    options = list(_float_options())
    assert len(options) >= 15
    for name, flag, info in options:
        assert info.parser is not None, f"{name} {flag} has no finite-number parser"
        for bad in ("nan", "inf", "-inf"):
            with pytest.raises(typer.BadParameter, match="finite"):
                info.parser(bad)


# --- Outputs that stay where they belong ----------------------------------------------------------------------------
# Output names derived from input names stay inside --outdir, writes replace symlinks instead of writing through
# them, and one output folder serves one run at a time.

TINY = ("--network", FIXTURES / "ada_tiny.pkl")
FAST_PROJECT = ("--steps", "1", "--refine-steps", "0", "--loss", "effnet", "--device", "cpu")


@pytest.fixture()
def outside(sandbox):
    """A file outside every output folder that a hostile name or link points at; it must never change."""
    precious = sandbox / "precious.png"
    precious.write_bytes(b"not to be overwritten")
    return precious


def test_photo_named_dot_dot_cannot_write_above_outdir(sandbox, capsys):
    """``...png`` has the stem ``..``: its folder would be the parent of --outdir."""
    (sandbox / "photos").mkdir()
    (sandbox / "photos" / "...png").write_bytes(WORLD_FACE.read_bytes())
    (sandbox / "deep").mkdir()
    (sandbox / "deep" / "report.json").write_text("{}\n")
    before = snapshot(sandbox)
    code, _, err = run_cli(["project", "photos/...png", *TINY, *FAST_PROJECT, "--outdir", "deep/out"], sandbox, capsys)
    assert_clean_refusal(code, err, "'..'", before, snapshot(sandbox))
    assert sorted(p.name for p in (sandbox / "deep").iterdir()) == ["report.json"]


def test_photo_folder_that_is_a_symlink_out_of_outdir_is_refused(sandbox, capsys):
    (sandbox / "elsewhere").mkdir()
    (sandbox / "proj").mkdir()
    (sandbox / "proj" / "face").symlink_to(sandbox / "elsewhere", target_is_directory=True)
    before = snapshot(sandbox)
    code, _, err = run_cli(["project", "a/face.png", *TINY, *FAST_PROJECT, "--outdir", "proj"], sandbox, capsys)
    assert_clean_refusal(code, err, "outside", before, snapshot(sandbox))
    assert list((sandbox / "elsewhere").iterdir()) == []


def test_output_folder_names_from_file_names(tmp_path):
    """One helper names a photo's folder: plain names pass, anything that is no single name inside outdir is
    refused, and two photos that would share a folder are refused."""
    from projector.outputs import output_name, photo_folder, photo_folders
    from stylegan2_core.errors import InputError

    assert output_name("face.v2", "face.v2.png") == "face.v2" and output_name(".hidden", ".hidden.png") == ".hidden"
    for bad in ("", ".", "..", "...", " . ", "a/b", "a\\b", "nul\0byte", "x" * 256):
        with pytest.raises(InputError, match="cannot name an output"):
            output_name(bad, "photo.png")
    out = tmp_path / "out"
    assert photo_folder(out, tmp_path / "in" / "face.png") == out / "face"
    out.mkdir()
    (out / "alias").symlink_to(out / "face", target_is_directory=True)
    with pytest.raises(InputError, match="would both write into"):
        photo_folders([tmp_path / "face.png", tmp_path / "alias.png"], out)
    (out / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InputError, match="outside"):
        photo_folder(out, "up.png")


def test_force_replaces_symlinked_outputs_not_their_targets(sandbox, outside, capsys):
    """With --force an output that is a symlink is replaced by the new file; the file it pointed to is kept."""
    folder = sandbox / "proj" / "face"
    folder.mkdir(parents=True)
    for name in ("target.png", "proj.png", "report.json"):
        (folder / name).symlink_to(outside)
    code, _, err = run_cli(["project", "a/face.png", *TINY, *FAST_PROJECT, "--outdir", "proj", "--force"],
                           sandbox, capsys)
    assert code == 0, err
    assert outside.read_bytes() == b"not to be overwritten"
    assert not any((folder / name).is_symlink() for name in ("target.png", "proj.png", "report.json"))
    (sandbox / "w").mkdir()
    (sandbox / "w" / "world_000000.png").symlink_to(outside)
    code, _, err = run_cli(["world", "--count", "2", "--size", "16", "--outdir", "w", "--force"], sandbox, capsys)
    assert code == 0, err
    assert outside.read_bytes() == b"not to be overwritten" and not (sandbox / "w" / "world_000000.png").is_symlink()


def test_save_image_and_videos_never_write_through_links(tmp_path):
    """The library writers behind every PNG and video output (the studio's export, grids, proj.mp4)."""
    from projector.images import save_image
    from projector.video import VideoWriter

    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep")
    (tmp_path / "export.png").symlink_to(outside)
    save_image(tmp_path / "export.png", torch.zeros([3, 8, 8]))
    # A link planted under the name a video used to be encoded to before its rename.
    (tmp_path / ".v.partial.mp4").symlink_to(outside)
    (tmp_path / "v.mp4").symlink_to(outside)
    with VideoWriter(tmp_path / "v.mp4", fps=5) as writer:
        writer.append(np.zeros([2, 8, 8, 3], np.uint8))
    assert outside.read_bytes() == b"keep"
    assert not (tmp_path / "export.png").is_symlink() and not (tmp_path / "v.mp4").is_symlink()
    assert iio_shape(tmp_path / "export.png") == (8, 8, 3)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") and not p.is_symlink())
    assert leftovers == [], leftovers


def iio_shape(path: Path) -> tuple:
    import imageio.v3 as iio

    return iio.imread(path).shape


OUTPUT_CASES = [
    Case("world over existing images", ("world", "--count", "2", "--size", "16", "--outdir", "wexist"), "--force"),
    Case("dangling symlink as output", ("generate", *DEMO, "--seeds", "0", "--outdir", "dangling"), "already exists"),
]


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=[c.name for c in OUTPUT_CASES])
def test_existing_outputs_are_refused_before_work(case: Case, sandbox, capsys):
    (sandbox / "wexist").mkdir()
    (sandbox / "wexist" / "world_000001.png").write_bytes(WORLD_FACE.read_bytes())  # no labels.csv beside it
    (sandbox / "dangling").mkdir()
    (sandbox / "dangling" / "seed0000.png").symlink_to(sandbox / "gone.png")
    before = snapshot(sandbox)
    code, _, err = run_cli(case.args, sandbox, capsys)
    assert_clean_refusal(code, err, case.needle, before, snapshot(sandbox))
    assert (sandbox / "dangling" / "seed0000.png").is_symlink()


# --- One run per output folder ---


@pytest.fixture()
def live_pid():
    """The pid of a process that runs for the test's duration (the holder of a planted lock)."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _plant_lock(folder: Path, pid: int, host: str | None = None) -> Path:
    import socket

    from projector.outputs import LOCK_NAME

    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    lock.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "command": "project"}))
    return lock


LOCKED_CASES = [
    Case("project into a folder in use", ("project", "a/face.png", *TINY, *FAST_PROJECT, "--outdir", "busy"), "in use"),
    Case("generate into a folder in use", ("generate", *DEMO, "--seeds", "0", "--outdir", "busy"), "in use"),
    Case("edit into a folder in use", ("edit", "good.safetensors", *DEMO, "--direction", "direction.npz",
                                       "--outdir", "busy"), "in use"),
    Case("world into a folder in use", ("world", "--count", "1", "--size", "16", "--outdir", "busy"), "in use"),
    Case("mix into a folder in use", ("mix", *DEMO, "--rows", "0", "--cols", "1", "--outdir", "busy"), "in use"),
]


@pytest.mark.parametrize("case", LOCKED_CASES, ids=[c.name for c in LOCKED_CASES])
def test_a_folder_in_use_is_refused(case: Case, sandbox, live_pid, capsys):
    _plant_lock(sandbox / "busy", live_pid)
    before = snapshot(sandbox)
    code, _, err = run_cli(case.args, sandbox, capsys)
    assert_clean_refusal(code, err, case.needle, before, snapshot(sandbox))
    assert str(live_pid) in err


def test_a_stale_lock_is_taken_over_and_released(sandbox, capsys):
    from projector.outputs import LOCK_NAME

    gone = subprocess.Popen(["true"])
    gone.wait()
    _plant_lock(sandbox / "g", gone.pid)
    code, _, err = run_cli(["generate", *DEMO, "--seeds", "0", "--outdir", "g"], sandbox, capsys)
    assert code == 0, err
    assert (sandbox / "g" / "seed0000.png").is_file() and not (sandbox / "g" / LOCK_NAME).exists()
    _plant_lock(sandbox / "h", gone.pid, host="another-host")  # another host's process cannot be checked
    code, _, err = run_cli(["generate", *DEMO, "--seeds", "0", "--outdir", "h"], sandbox, capsys)
    assert code == 2 and "in use" in err and "another-host" in err
    (sandbox / "h" / LOCK_NAME).write_text("")  # a lock that names no one is left for the user to judge
    code, _, err = run_cli(["generate", *DEMO, "--seeds", "0", "--outdir", "h"], sandbox, capsys)
    assert code == 2 and "remove that file" in err and (sandbox / "h" / LOCK_NAME).exists()


def test_two_projects_into_one_folder(tmp_path, capsys):
    """While one project run works in --outdir a second is refused; SIGTERM ends the first and frees the folder."""
    from projector.outputs import LOCK_NAME

    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "cli", "project", str(WORLD_FACE), "--network", "demo",
                              "--steps", "400", "--outdir", str(out), "--device", "cpu"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "world_face").is_dir():
            time.sleep(0.2)
        assert (out / LOCK_NAME).is_file()
        before = snapshot(out)
        code, _, err = run_cli(["project", WORLD_FACE, "--network", "demo", "--steps", "1", "--outdir", out,
                                "--force"], tmp_path, capsys)
        assert_clean_refusal(code, err, "in use", before, snapshot(out))
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    assert not (out / LOCK_NAME).exists()


def test_ranks_of_one_torchrun_job_share_the_refusal(tmp_path, live_pid):
    """Under torchrun rank 0 holds the folder for the job; when it is in use the job stops with the one line (every
    rank raises it; torchrun may stop the others first), writes nothing and waits for nothing.
    tests/test_projector/test_distributed.py runs a job that holds the folder."""
    import socket

    lock = _plant_lock(tmp_path / "busy", live_pid)
    held = lock.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "cli",
           "project", str(WORLD_FACE), "--network", str(FIXTURES / "ada_tiny.pkl"), *FAST_PROJECT,
           "--outdir", str(tmp_path / "busy")]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    refusal = f"error: {tmp_path / 'busy'}: in use by another run (project pid {live_pid} on {socket.gethostname()})"
    assert run.returncode != 0 and refusal in run.stderr, run.stderr[-3000:]
    assert "InputError" not in run.stderr, run.stderr[-3000:]  # torchrun's own report aside, no traceback of ours
    assert lock.read_text() == held and sorted(p.name for p in (tmp_path / "busy").iterdir()) == [lock.name]
