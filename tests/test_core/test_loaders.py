"""Checkpoint loading: safety, error messages, round trips, sources."""

import functools
import http.server
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan2_core import (
    CheckpointError,
    InputError,
    UnknownFormatError,
    UnsafeCheckpointError,
    estimate_w_avg,
    load_generator,
    save_generator,
    w_statistics,
)
from stylegan2_core.fileio import read_safetensors

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _render(G, seeds=(0, 1)):
    from stylegan2_core import z_from_seeds

    z = z_from_seeds(list(seeds), G.z_dim)
    c = torch.eye(G.c_dim)[: len(seeds)] if G.c_dim else None
    with torch.no_grad():
        return G(z, c, noise_mode="const")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"G_ema": _Exploit(marker)}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
        load_generator(bad)
    assert not marker.exists()


def test_hostile_global_inside_persistent_record_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    payload = pickle.dumps(_Exploit(marker), protocol=2)
    # An otherwise well-formed ADA snapshot whose tensor data smuggles a payload.
    data = (FIXTURES / "ada_tiny.pkl").read_bytes()
    bad = tmp_path / "evil2.pkl"
    bad.write_bytes(data[:-1] + payload[2:])  # breaks the structure and appends a REDUCE
    with pytest.raises(CheckpointError):
        load_generator(bad)
    assert not marker.exists()


def test_module_src_is_never_executed():
    G = load_generator(FIXTURES / "ada_tiny.pkl")  # embedded module_src is data only
    assert not any(name.startswith(("torch_utils", "dnnlib", "training")) for name in __import__("sys").modules)
    assert G.checkpoint.format == "stylegan2-ada-pkl"


@pytest.mark.parametrize("cut", [0.01, 0.5, 0.99])
def test_truncated_pickle_gives_one_line_error(tmp_path, cut):
    data = (FIXTURES / "ada_tiny.pkl").read_bytes()
    bad = tmp_path / "cut.pkl"
    bad.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError) as err:
        load_generator(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_truncated_torch_checkpoint(tmp_path):
    data = (FIXTURES / "rosinality_tiny.pt").read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_generator(bad)


def test_unknown_and_empty_files(tmp_path):
    (tmp_path / "x.txt").write_text("hello world, not a checkpoint")
    with pytest.raises(UnknownFormatError, match="unknown checkpoint format"):
        load_generator(tmp_path / "x.txt")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_generator(tmp_path / "empty.pkl")
    with pytest.raises(InputError, match="no such file"):
        load_generator(tmp_path / "missing.pkl")
    with pytest.raises(InputError, match="is a directory"):
        load_generator(tmp_path)


def test_pickle_of_other_content_is_unknown(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UnknownFormatError):
        load_generator(path)


def test_g_and_g_ema_differ():
    G_ema = load_generator(FIXTURES / "ada_tiny.pkl")
    G = load_generator(FIXTURES / "ada_tiny.pkl", network="G")
    assert G.checkpoint.network == "G"
    assert (_render(G) - _render(G_ema)).abs().max() > 1e-3
    Gs = load_generator(FIXTURES / "tf_tiny.pkl")
    G_tf = load_generator(FIXTURES / "tf_tiny.pkl", network="G")
    assert Gs.checkpoint.network == "Gs" and (_render(G_tf) - _render(Gs)).abs().max() > 1e-3
    with pytest.raises(InputError, match="no network 'D2'"):  # the caller's argument, not a bad file
        load_generator(FIXTURES / "ada_tiny.pkl", network="D2")
    with pytest.raises(InputError, match="'D' is not a generator"):
        load_generator(FIXTURES / "tf_tiny.pkl", network="D")
    with pytest.raises(InputError, match="no generator 'g2'"):
        load_generator(FIXTURES / "rosinality_tiny.pt", network="g2")


@pytest.mark.parametrize("name", ["ada_tiny.pkl", "ada_tiny_cond.pkl", "tf_tiny.pkl", "rosinality_tiny.pt"])
def test_native_round_trip(tmp_path, name):
    G = load_generator(FIXTURES / name)
    out = save_generator(G, tmp_path / "g.safetensors")
    G2 = load_generator(out)
    assert G2.checkpoint.format == "s2edit-native" and G2.cfg == G.cfg
    assert torch.equal(_render(G), _render(G2))


def test_saved_files_get_the_umask_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        out = save_generator(load_generator(FIXTURES / "ada_tiny.pkl"), tmp_path / "g.safetensors")
    finally:
        os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("name", ["tf_tiny.pkl", "rosinality_tiny.pt"])  # the ADA fixtures use conv_clamp
def test_native_to_rosinality_round_trip(tmp_path, name):
    G = load_generator(FIXTURES / name)
    native = save_generator(G, tmp_path / "g.safetensors")
    ros = save_generator(load_generator(native), tmp_path / "g.pt")
    G2 = load_generator(ros)
    assert G2.checkpoint.format == "rosinality-pt"
    torch.testing.assert_close(_render(G2), _render(G), atol=1e-6, rtol=0)


def test_rosinality_export_refuses_unrepresentable(tmp_path):
    G = load_generator(FIXTURES / "ada_tiny.pkl")  # has conv_clamp=256
    with pytest.raises(InputError, match="g.pt: rosinality's generator cannot represent"):
        save_generator(G, tmp_path / "g.pt")
    assert not (tmp_path / "g.pt").exists()


def test_rosinality_without_latent_avg_estimates_it(tmp_path, caplog):
    ckpt = torch.load(FIXTURES / "rosinality_tiny.pt", weights_only=True)
    torch.save({"g_ema": ckpt["g_ema"]}, tmp_path / "noavg.pt")
    G = load_generator(tmp_path / "noavg.pt")
    assert any("latent_avg" in n for n in G.checkpoint.notes)
    assert "latent_avg" in caplog.text
    ref = np.load(FIXTURES / "rosinality_tiny.ref.npz")
    # The fixture's w_avg is the empirical mean plus 0.05 N(0,1) noise; the estimate is the mean.
    assert np.abs(G.mapping.w_avg.numpy() - ref["w_avg"]).mean() < 0.1
    # ... and it is the one w_avg estimate, the official projector's (10 000 z from RandomState(123)).
    assert torch.equal(G.mapping.w_avg, w_statistics(G)[0].reshape(-1))
    assert torch.equal(estimate_w_avg(G), G.mapping.w_avg)


def test_rosinality_training_checkpoint(tmp_path):
    ckpt = torch.load(FIXTURES / "rosinality_tiny.pt", weights_only=True)
    torch.save({"g": ckpt["g_ema"], "d": {}, "g_ema": ckpt["g_ema"], "latent_avg": ckpt["latent_avg"],
                "args": {"size": 32}}, tmp_path / "train.pt")
    G = load_generator(tmp_path / "train.pt")
    assert G.checkpoint.network == "g_ema"
    assert torch.equal(_render(G), _render(load_generator(FIXTURES / "rosinality_tiny.pt")))


def test_download_from_local_server(tmp_path, monkeypatch):
    root = tmp_path / "srv"
    root.mkdir()
    (root / "net.pkl").write_bytes((FIXTURES / "ada_tiny.pkl").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/net.pkl"
        seen = []
        G = load_generator(url, progress=lambda done, total: seen.append((done, total)))
        assert seen and seen[-1][0] == seen[-1][1] == (root / "net.pkl").stat().st_size
        cached = Path(G.checkpoint.path)
        assert cached.is_file() and cached.parent.name == "downloads"
        assert not list(cached.parent.glob("*.part"))
        # Cached: a second load does not hit the server.
        (root / "net.pkl").unlink()
        G2 = load_generator(url)
        assert G2.checkpoint.path == G.checkpoint.path
        with pytest.raises(InputError, match="sha256 mismatch"):
            (root / "other.pkl").write_bytes(b"\x80\x04junk")
            load_generator(f"http://127.0.0.1:{server.server_port}/other.pkl", sha256="0" * 64)
        with pytest.raises(InputError, match="download failed"):
            load_generator(f"http://127.0.0.1:{server.server_port}/missing.pkl")
    finally:
        server.shutdown()


def test_config_rejects_unknown_keys():
    from stylegan2_core import GeneratorConfig

    cfg = load_generator(FIXTURES / "ada_tiny.pkl").cfg
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    bad = cfg.to_dict()
    bad["synthesis"]["channel_bass"] = 3
    with pytest.raises(InputError, match="channel_bass"):  # a caller's dict: bad input
        GeneratorConfig.from_dict(bad)


def test_bad_config_values_are_input_errors():
    from stylegan2_core import GeneratorConfig, SynthesisConfig
    from stylegan2_core.discriminator import DiscriminatorConfig

    with pytest.raises(InputError, match="power of two"):
        GeneratorConfig(img_resolution=100)
    with pytest.raises(InputError, match="architecture"):
        SynthesisConfig(architecture="unet")
    with pytest.raises(InputError, match="unknown keys"):
        DiscriminatorConfig.from_dict({"img_resolution": 16, "depth": 3})


def test_a_checkpoint_with_a_bad_config_is_a_checkpoint_error(tmp_path):
    from stylegan2_core.checkpoints.native import write_native

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    save_generator(G, tmp_path / "g.safetensors")
    tensors, meta = read_safetensors(tmp_path / "g.safetensors")
    meta["config"]["synthesis"]["channel_bass"] = 3
    write_native(tmp_path / "bad.safetensors", tensors, None, extra={"config": meta["config"]})
    with pytest.raises(CheckpointError, match=r"bad.safetensors: bad generator config in metadata .*channel_bass"):
        load_generator(tmp_path / "bad.safetensors")


def test_training_checkpoint_is_refused_with_how_to_load_it(tmp_path):
    """stylegan2_core does not decode projector's training layout; its message names the loader that does."""
    from stylegan2_core.checkpoints.native import write_native

    G = load_generator(FIXTURES / "ada_tiny.pkl")
    tensors = {f"G_ema.{k}": v for k, v in G.state_dict().items()}
    write_native(tmp_path / "checkpoint.safetensors", tensors, G.cfg, kind="training")
    with pytest.raises(CheckpointError, match="training checkpoint") as info:
        load_generator(tmp_path / "checkpoint.safetensors")
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "checkpoint.safetensors"))
    assert "projector.load_network" in message
