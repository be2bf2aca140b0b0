"""Uniform averaging of G_ema snapshots (a post-hoc longer EMA)."""

import pytest
import torch

from projector.training import network_configs
from projector.training.checkpoint import average_generators, snapshot_paths
from stylegan2_core import Generator, save_generator
from stylegan2_core.errors import CheckpointError, InputError


def _snapshots(folder, kimgs, seed=0, channel_max=16):
    G_cfg, _ = network_configs(16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=channel_max)
    torch.manual_seed(seed)
    generators = []
    for kimg in kimgs:
        G = Generator(G_cfg)
        with torch.no_grad():
            for p in G.parameters():
                p.normal_()
            G.mapping.w_avg.normal_()
        save_generator(G, folder / f"network-snapshot-{kimg:06d}.safetensors")
        generators.append(G)
    return generators


def test_average_is_the_mean_of_weights_and_buffers(tmp_path):
    gens = _snapshots(tmp_path, [0, 4, 8, 12])
    paths = snapshot_paths(tmp_path, "4:12")
    assert [p.name for p in paths] == [f"network-snapshot-{k:06d}.safetensors" for k in (4, 8, 12)]
    avg = average_generators(paths)
    for name, value in avg.state_dict().items():
        expected = torch.stack([g.state_dict()[name] for g in gens[1:]]).mean(0)
        torch.testing.assert_close(value, expected, msg=name)
    assert not torch.equal(avg.mapping.w_avg, gens[1].mapping.w_avg)
    single = average_generators(snapshot_paths(tmp_path, "8"))
    torch.testing.assert_close(single.mapping.w_avg, gens[2].mapping.w_avg)


def test_missing_range_and_bad_spec_are_input_errors(tmp_path):
    _snapshots(tmp_path, [0])
    with pytest.raises(InputError, match="no snapshots for 4:8"):
        snapshot_paths(tmp_path, "4:8")
    with pytest.raises(InputError, match="expected KIMG or LO:HI"):
        snapshot_paths(tmp_path, "a:b")


def test_mismatched_configs_are_refused(tmp_path):
    _snapshots(tmp_path, [0])
    other = tmp_path / "other"
    other.mkdir()
    _snapshots(other, [4], channel_max=8)
    (other / "network-snapshot-000004.safetensors").rename(tmp_path / "network-snapshot-000004.safetensors")
    with pytest.raises(CheckpointError, match="config differs"):
        average_generators(snapshot_paths(tmp_path, "0:4"))
