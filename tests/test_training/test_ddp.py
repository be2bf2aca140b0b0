"""Two CPU processes under torchrun (gloo): DistributedDataParallel keeps every weight identical."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from projector.training import Trainer
from projector.training.checkpoint import load_checkpoint

WORKER = textwrap.dedent("""
    import os, sys
    import torch
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    sys.path.insert(0, {conftest_dir!r})
    from conftest import make_tiny
    from projector.training import train

    out = {outdir!r}
    result = train(make_tiny(kimg=0.016, r1_interval=2, pl_interval=2), out, device="cpu")
    t = result.trainer
    weights = {{f"{{n}}.{{k}}": v.contiguous() for n, m in (("G", t.G), ("G_ema", t.G_ema), ("D", t.D))
               for k, v in m.state_dict().items()}}
    weights["pl_mean"] = t.loss.pl_mean.reshape([1])
    weights["real0"] = t.stream.batch(0).contiguous()
    save_file(weights, os.path.join(out, f"rank{{os.environ['RANK']}}.safetensors"))

    # Only rank 1 runs out of time; both must stop after the same step.
    budget = 0 if os.environ["RANK"] == "1" else 3600
    steps = train(make_tiny(), os.path.join(out, "budget"), device="cpu", max_seconds=budget).trainer.step_index
    with open(os.path.join(out, f"steps{{os.environ['RANK']}}.txt"), "w") as f:
        f.write(str(steps))
    # Free the DDP wrappers while the interpreter is alive, as a script should before it exits.
    del result, t
""")


def test_two_processes_hold_identical_weights(tmp_path, tiny_cfg):
    script = tmp_path / "worker.py"
    outdir = tmp_path / "run"
    script.write_text(WORKER.format(conftest_dir=str(Path(__file__).parent), outdir=str(outdir)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(outdir / "rank0.safetensors"), load_file(outdir / "rank1.safetensors")
    assert not torch.equal(r0.pop("real0"), r1.pop("real0"))  # each process trains on its own share
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    initial = Trainer(tiny_cfg()).D.state_dict()
    assert any(not torch.equal(r0[f"D.{k}"], v) for k, v in initial.items())  # the steps did train
    tensors, meta, _ = load_checkpoint(outdir / "checkpoint.safetensors")
    assert meta["world_size"] == 2 and {"rng.0", "rng.1"} <= set(tensors)
    assert not torch.equal(tensors["rng.0"], tensors["rng.1"])
    assert meta["nimg"] == 16 and meta["step"] == 4
    assert (outdir / "steps0.txt").read_text() == (outdir / "steps1.txt").read_text() == "1"
