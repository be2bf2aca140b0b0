"""Folder projection across processes: shares, resume, one summary, no overwrite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from projector import ProjectorConfig
from projector.distributed import SUMMARY_NAME, _consecutive_batches, complete, plan_shards, project_sharded
from projector.io import save_image
from stylegan2_core import InputError, load_generator, z_from_seeds

FIXTURES = Path(__file__).parents[1] / "fixtures"
CFG = ProjectorConfig(steps=2, w_avg_samples=100)


class PixelDistance:
    name = "pixel"

    def __call__(self, a, b):
        return (a - b).square().mean(dim=(1, 2, 3))


def test_plan_shards_cover_every_image_once():
    for count in range(0, 9):
        for world in (1, 2, 3):
            shares = plan_shards(list(range(count)), world)
            assert len(shares) == world and sum(shares, []) == list(range(count))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert _consecutive_batches([0, 1, 2, 5, 6, 9], 2) == [[0, 1], [2], [5, 6], [9]]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    folder = tmp_path_factory.mktemp("photos")
    with torch.no_grad():
        images = G(z_from_seeds(list(range(5)), G.z_dim), noise_mode="const")
    for i, image in enumerate(images):
        save_image(folder / f"p{i}.png", image)
    return sorted(folder.iterdir())


RANK_SCRIPT = """
import json, os, sys
from pathlib import Path
import torch
from projector import ProjectorConfig
from projector.distributed import project_sharded
from stylegan2_core import load_generator

class PixelDistance:
    name = "pixel"
    def __call__(self, a, b):
        return (a - b).square().mean(dim=(1, 2, 3))

network, out, log, resume, *paths = sys.argv[1:]
torch.set_num_threads(1)
G = load_generator(network)
done, _ = project_sharded(G, paths, out, ProjectorConfig(steps=2, w_avg_samples=100), resume=resume == "1",
                          batch_size=2, distance=PixelDistance())
Path(log, "rank" + os.environ["RANK"] + ".json").write_text(json.dumps([str(f.path) for f in done]))
if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
"""


def _torchrun(tmp_path, paths, out, log, resume):
    """Two CPU processes under torchrun (gloo), each projecting its share."""
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(FIXTURES / "ada_tiny.pkl"), str(out), str(log), "1" if resume else "0", *map(str, paths)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads((log / f"rank{r}.json").read_text()) for r in range(2)]


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_two_processes_split_resume_and_refuse(photos, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log"
    log.mkdir()
    shares = _torchrun(tmp_path, photos, out, log, resume=False)
    assert sorted(shares[0] + shares[1]) == [str(p) for p in photos] and shares[0] and shares[1]
    assert all(complete(p, out) for p in photos)
    summary = json.loads((out / SUMMARY_NAME).read_text())
    assert [item["image"] for item in summary["images"]] == [str(p) for p in photos]
    # Image i has seed i wherever it ran.
    assert [item["seed"] for item in summary["images"]] == list(range(len(photos)))

    # A killed run: one image's outputs half there. Resume (here in one process) redoes only that one.
    (out / photos[3].stem / "report.json").unlink()
    before = _mtimes(out)
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    done, _ = project_sharded(G, photos, out, CFG, resume=True, distance=PixelDistance())
    assert [f.path for f in done] == [photos[3]]
    after = _mtimes(out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(p.parent.name == photos[3].stem for p in changed - {out / SUMMARY_NAME})

    # Nothing left to do: a second resume rewrites nothing at all, the summary included.
    before = _mtimes(out)
    assert _torchrun(tmp_path, photos, out, log, resume=True) == [[], []]
    assert _mtimes(out) == before

    # Without resume or force, existing outputs are refused before any work.
    with pytest.raises(InputError, match="already exists"):
        project_sharded(G, photos, out, CFG, distance=PixelDistance())
    assert _mtimes(out) == before
