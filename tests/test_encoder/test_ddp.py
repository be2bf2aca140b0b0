"""Two CPU processes under torchrun (gloo): every process ends with the same encoder, trained on its own share."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from projector.encoder.train import CHECKPOINT_NAME, load_encoder_checkpoint

WORKER = textwrap.dedent("""
    import os, sys
    import torch
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    sys.path.insert(0, {conftest_dir!r})
    from conftest import tiny_train_config
    from projector.encoder import train_encoder
    from stylegan2_core import load_generator

    G = load_generator({network!r})
    out = {outdir!r}
    cfg = tiny_train_config(G, data="world", kimg=0.008)
    trainer = train_encoder(cfg, G, out, device="cpu").trainer
    weights = {{k: v.contiguous() for k, v in trainer.encoder.state_dict().items()}}
    weights["photos0"] = trainer._batch()[0]
    save_file(weights, os.path.join(out, f"rank{{os.environ['RANK']}}.safetensors"))
    del trainer
""")


def test_two_processes_hold_identical_encoders(tmp_path):
    here = Path(__file__).parent
    script, outdir = tmp_path / "worker.py", tmp_path / "run"
    script.write_text(WORKER.format(conftest_dir=str(here), network=str(here.parent / "fixtures" / "ada_tiny.pkl"),
                                    outdir=str(outdir)))
    root = str(here.parents[1])  # the workers import this checkout's packages, as the test process does
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(outdir / "rank0.safetensors"), load_file(outdir / "rank1.safetensors")
    assert not torch.equal(r0.pop("photos0"), r1.pop("photos0"))  # each process trains on its own share
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    assert r0["heads.coarse.weight"].abs().sum() > 0  # the steps did train
    tensors, meta, _ = load_encoder_checkpoint(outdir / CHECKPOINT_NAME)
    assert meta["world_size"] == 2 and meta["nimg"] == 8 and meta["step"] == 2
    assert not torch.equal(tensors["rng.0"], tensors["rng.1"])
