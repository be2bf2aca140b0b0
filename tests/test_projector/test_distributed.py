"""Folder projection across processes: shares, resume, one summary, no overwrite."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

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


def _rank_main(rank, world, port, paths, outdir, resume, log):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    done, summary = project_sharded(G, paths, outdir, CFG, resume=resume, batch_size=2, distance=PixelDistance())
    Path(log, f"rank{rank}.json").write_text(json.dumps([str(f.path) for f in done]))
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_two_processes_split_resume_and_refuse(photos, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log"
    log.mkdir()
    mp.spawn(_rank_main, args=(2, _free_port(), photos, out, False, log), nprocs=2)
    shares = [json.loads((log / f"rank{r}.json").read_text()) for r in range(2)]
    assert sorted(shares[0] + shares[1]) == [str(p) for p in photos] and shares[0] and shares[1]
    assert all(complete(p, out) for p in photos)
    summary = json.loads((out / SUMMARY_NAME).read_text())
    assert [item["image"] for item in summary["images"]] == [str(p) for p in photos]
    # Image i has seed i wherever it ran.
    assert [item["seed"] for item in summary["images"]] == list(range(len(photos)))

    # A killed run: one image's outputs half there. Resume redoes only that one, rewrites nothing else.
    (out / photos[3].stem / "report.json").unlink()
    before = _mtimes(out)
    mp.spawn(_rank_main, args=(2, _free_port(), photos, out, True, log), nprocs=2)
    shares = [json.loads((log / f"rank{r}.json").read_text()) for r in range(2)]
    assert shares[0] + shares[1] == [str(photos[3])]
    after = _mtimes(out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(p.parent.name == photos[3].stem for p in changed - {out / SUMMARY_NAME})

    # Nothing left to do: a second resume rewrites nothing at all, the summary included.
    before = _mtimes(out)
    mp.spawn(_rank_main, args=(2, _free_port(), photos, out, True, log), nprocs=2)
    assert _mtimes(out) == before

    # Without resume or force, existing outputs are refused before any work.
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    with pytest.raises(InputError, match="already exists"):
        project_sharded(G, photos, out, CFG, distance=PixelDistance())
    assert _mtimes(out) == before
