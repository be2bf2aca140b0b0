"""Loading StyleGAN3 checkpoints: safety, G vs G_ema, native round trip, refusals."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from stylegan2_core import (
    CheckpointError,
    InputError,
    StyleGAN3Config,
    UnsafeCheckpointError,
    load_generator,
    save_generator,
    z_from_seeds,
)
from stylegan2_core.fileio import read_safetensors

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _render(G, seeds=(0, 1)):
    z = z_from_seeds(list(seeds), G.z_dim)
    c = torch.eye(G.c_dim)[: len(seeds)] if G.c_dim else None
    with torch.no_grad():
        return G(z, c)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _persistent_snapshot(meta_pickle: bytes) -> bytes:
    """A protocol-2 pickle of ``{"G_ema": torch_utils.persistence._reconstruct_persistent_obj(meta)}``, the way
    NVlabs snapshots store their networks; ``meta_pickle`` is the pickled meta dict."""
    body = meta_pickle[2:-1]  # without the protocol header and STOP
    return (b"\x80\x02}q\x00X\x05\x00\x00\x00G_emaq\x01"
            b"ctorch_utils.persistence\n_reconstruct_persistent_obj\n" + body + b"\x85R" + b"s.")


def _meta(state, module_src="") -> dict:
    return {"type": "class", "version": 6, "module_src": module_src, "class_name": "Generator", "state": state}


def test_sg3_module_src_is_never_executed():
    G = load_generator(FIXTURES / "sg3t_tiny.pkl")
    assert not any(name.startswith(("torch_utils", "dnnlib", "training")) for name in __import__("sys").modules)
    assert isinstance(G.cfg, StyleGAN3Config) and G.checkpoint.format == "stylegan3-pkl"


def test_snapshot_whose_source_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    state = {"_modules": {"synthesis": None}, "_init_kwargs": {"z_dim": 8}}
    bad = tmp_path / "src.pkl"
    bad.write_bytes(_persistent_snapshot(pickle.dumps(_meta(state, source), protocol=2)))
    with pytest.raises(CheckpointError) as err:
        load_generator(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_hostile_global_inside_sg3_snapshot_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    state = {"_modules": {"synthesis": _Exploit(marker)}}
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(_persistent_snapshot(pickle.dumps(_meta(state), protocol=2)))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
        load_generator(bad)
    assert not marker.exists()


def test_g_and_g_ema_differ():
    G_ema = load_generator(FIXTURES / "sg3t_tiny.pkl")
    G = load_generator(FIXTURES / "sg3t_tiny.pkl", network="G")
    assert G.checkpoint.network == "G" and (_render(G) - _render(G_ema)).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["sg3t_tiny.pkl", "sg3r_tiny_cond.pkl"])
def test_native_round_trip(tmp_path, name):
    G = load_generator(FIXTURES / name)
    out = save_generator(G, tmp_path / "g.safetensors")
    _, meta = read_safetensors(out)
    assert meta["config"]["architecture"] == "stylegan3"
    G2 = load_generator(out)
    assert G2.checkpoint.format == "s2edit-native" and G2.cfg == G.cfg
    assert G2.checkpoint.model_id == G.checkpoint.model_id
    assert torch.equal(_render(G), _render(G2))


def test_rosinality_export_is_refused(tmp_path):
    G = load_generator(FIXTURES / "sg3t_tiny.pkl")
    with pytest.raises(InputError, match="StyleGAN2 generators only"):
        save_generator(G, tmp_path / "g.pt")
    assert not (tmp_path / "g.pt").exists()


def test_config_round_trip_and_unknown_keys():
    cfg = load_generator(FIXTURES / "sg3r_tiny_cond.pkl").cfg
    assert StyleGAN3Config.from_dict(cfg.to_dict()) == cfg and cfg.variant == "stylegan3-r"
    with pytest.raises(InputError, match="unknown config keys"):
        StyleGAN3Config.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(InputError, match="unknown config keys"):
        StyleGAN3Config.from_dict({**cfg.to_dict(), "synthesis": {"conv_kernal": 1}})
    with pytest.raises(InputError, match="architecture"):
        StyleGAN3Config(architecture="stylegan2")


def test_native_file_with_a_bad_stylegan3_config_is_a_checkpoint_error(tmp_path):
    from stylegan2_core.checkpoints.native import write_native

    G = load_generator(FIXTURES / "sg3t_tiny.pkl")
    tensors = {k: v for k, v in G.state_dict().items() if not k.endswith("_filter")}
    config = G.cfg.to_dict()
    bad = tmp_path / "bad.safetensors"
    write_native(bad, tensors, None, extra={"config": {**config, "synthesis": {**config["synthesis"], "warp": 1}}})
    with pytest.raises(CheckpointError, match="unknown config keys") as err:
        load_generator(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    ada = load_generator(FIXTURES / "ada_tiny.pkl")  # StyleGAN2 tensors under a StyleGAN3 config
    mismatched = tmp_path / "mismatched.safetensors"
    write_native(mismatched, {k: v for k, v in ada.state_dict().items() if not k.endswith("resample_filter")}, None,
                 extra={"config": config})
    with pytest.raises(CheckpointError, match="do not match the generator config"):
        load_generator(mismatched)
