"""``s2edit train-encoder``: the documented example (with a small batch), resume, and a refused network."""

import sys
from pathlib import Path

from projector.encoder import load_encoder
from projector.encoder.train import CHECKPOINT_NAME, load_encoder_checkpoint
from stylegan2_core import load_generator, model_id

FIXTURES = Path(__file__).parents[1] / "fixtures"
NET = FIXTURES / "ada_tiny.pkl"


def run_cli(args, run_s2edit) -> tuple[int, str]:
    """``s2edit ARGS`` in-process: (exit code, stderr)."""
    code, _, err = run_s2edit(*args)
    return code, err


def test_train_encoder_example_resume_and_refusal(tmp_path, monkeypatch, run_s2edit):
    monkeypatch.chdir(tmp_path)
    fast = ["--batch", "4", "--passes", "1", "--threads", "1", "--device", "cpu", "--loss", "effnet"]
    code, err = run_cli(["train-encoder", "--network", NET, "--kimg", "0.004", "--outdir", "runs/enc", *fast],
                        run_s2edit)
    assert code == 0, err
    run = tmp_path / "runs" / "enc" / "00000-encoder-32px"
    G = load_generator(NET)
    encoder = load_encoder(run / f"encoder-{model_id(G)[:12]}.safetensors", G)
    assert encoder.cfg.passes == 1 and encoder.meta["kimg"] == 0.004 and (run / "log.jsonl").is_file()

    code, err = run_cli(["train-encoder", "--resume", run, "--kimg", "0.008", "--threads", "1", "--device", "cpu"],
                        run_s2edit)
    assert code == 0, err
    _, meta, cfg = load_encoder_checkpoint(run / CHECKPOINT_NAME)
    assert meta["step"] == 2 and cfg.kimg == 0.008 and cfg.batch_size == 4

    code, err = run_cli(["train-encoder", "--resume", run, "--network", FIXTURES / "rosinality_tiny.pt",
                         "--kimg", "0.012", "--device", "cpu"], run_s2edit)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(run / CHECKPOINT_NAME) in err and "trained for network" in err, err


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    """SIGINT during training: the step ends, the checkpoint and encoder file are written, exit code 130."""
    import os
    import signal
    import subprocess
    import time

    root = Path(__file__).parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "cli", "train-encoder", "--network", str(NET), "--kimg", "10", "--batch", "4",
           "--passes", "1", "--loss", "effnet", "--tick", "0.004", "--threads", "1", "--device", "cpu",
           "--outdir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "00000-encoder-32px"
    deadline = time.monotonic() + 120
    while not (run / "log.jsonl").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first tick is logged: the run is training
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "--resume" in err
    _, meta, _ = load_encoder_checkpoint(run / CHECKPOINT_NAME)
    assert meta["step"] >= 1 and (run / f"encoder-{model_id(load_generator(NET))[:12]}.safetensors").is_file()
