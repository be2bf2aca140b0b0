"""Load generators from every checkpoint format users have; save them in the native format.

Formats are sniffed from the file's content, not its name: native ``.safetensors``,
NVlabs StyleGAN2-ADA / StyleGAN3-repo ``.pkl``, original TensorFlow StyleGAN2 ``.pkl``,
rosinality ``.pt``. Pickles never execute code: see ``_safe_pickle``.
"""

import hashlib
import json
import logging
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import GeneratorConfig
from ..errors import CheckpointError, InputError, UnknownFormatError
from ..fileio import atomic_write, cache_root, download, is_safetensors, sha256_file
from ..latent import W_AVG_SAMPLES, W_AVG_SEED, w_statistics
from ..networks import Generator
from ..sg3.config import StyleGAN3Config
from ..sg3.networks import Generator as StyleGAN3Generator
from . import native, nvlabs_pkl, rosinality_pt
from ._safe_pickle import NetworkStub, PersistentRecord, safe_load
from ._source import KNOWN_NETWORKS, resolve_source

__all__ = [
    "CheckpointInfo",
    "KNOWN_NETWORKS",
    "load_generator",
    "save_generator",
    "estimate_w_avg",
    "model_id",
    "cache_root",
    "download",
]

log = logging.getLogger(__name__)
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# FIR filter buffers: constants rebuilt from the config, not part of the weights.
_FILTER_SUFFIXES = ("resample_filter", "up_filter", "down_filter")


@dataclass
class CheckpointInfo:
    """Where a generator came from (attached to it as ``G.checkpoint``)."""

    format: str
    path: str
    sha256: str  # of the file: changes when the same network is converted to another format
    network: str
    notes: list[str] = field(default_factory=list)
    model_id: str = ""  # of the weights and config (``model_id``): the same in every format


def model_id(G: Generator | StyleGAN3Generator) -> str:
    """A generator's identity by content: sha256 of its config and float32 weights, whatever the file format.

    The same network loaded from an NVlabs pickle, a rosinality ``.pt`` or a converted native file has one
    ``model_id``; tuned or retrained weights get another. Latents, directions and tuned files record it.
    """
    h = hashlib.sha256(json.dumps(G.cfg.to_dict(), sort_keys=True).encode())
    for key, tensor in sorted(G.state_dict().items()):
        if key.endswith(_FILTER_SUFFIXES):
            continue
        h.update(key.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def _demo_path() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "demo.safetensors"


def estimate_w_avg(G: Generator, num_samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """w_avg ``[w_dim]`` for checkpoints without one: ``w_statistics``' mean, on G's device."""
    return w_statistics(G, num_samples, seed)[0].reshape(-1).to(G.mapping.w_avg.device)


def _build(cfg: GeneratorConfig | StyleGAN3Config, state: dict[str, torch.Tensor],
           where: str) -> Generator | StyleGAN3Generator:
    G = StyleGAN3Generator(cfg) if isinstance(cfg, StyleGAN3Config) else Generator(cfg)
    expected = G.state_dict()
    for key, tensor in expected.items():
        if key.endswith(_FILTER_SUFFIXES) and key not in state:
            state[key] = tensor  # constant FIR filters are rebuilt from the config
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(f"{where}: tensors do not match the generator config ({'; '.join(parts)})")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{where}: {key} has shape {list(state[key].shape)}, config needs {list(tensor.shape)}")
    G.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    return G


def _load_pickle(path: Path, network: str | None):
    with open(path, "rb") as f:
        obj = safe_load(f)
    if isinstance(obj, int) and obj == _TORCH_LEGACY_MAGIC:
        return None  # a legacy torch.save stream: handled as a torch checkpoint
    if isinstance(obj, dict) and any(isinstance(obj.get(k), PersistentRecord) for k in ("G_ema", "G", "D")):
        name = network or "G_ema"
        record = obj.get(name)
        if not isinstance(record, PersistentRecord):
            raise InputError(f"{path}: no network {name!r} in this snapshot (has {sorted(obj)})")
        if nvlabs_pkl.is_stylegan3(record):
            return "stylegan3-pkl", name, nvlabs_pkl.stylegan3_config(record), nvlabs_pkl.ada_state_dict(record), []
        cfg = nvlabs_pkl.ada_config(record)
        return "stylegan2-ada-pkl", name, cfg, nvlabs_pkl.ada_state_dict(record), []
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, NetworkStub) for n in obj):
        name = network or "Gs"
        nets = dict(zip(("G", "D", "Gs"), obj))
        if name not in ("G", "Gs"):
            raise InputError(f"{path}: TF pickles hold networks G, D, Gs; {name!r} is not a generator")
        net = nets[name]
        return "stylegan2-tf-pkl", name, nvlabs_pkl.tf_config(net), nvlabs_pkl.tf_state_dict(net), []
    raise UnknownFormatError(f"{path}: a pickle, but neither an NVlabs snapshot dict nor a TF (G, D, Gs) tuple")


def _load_torch(path: Path, network: str | None):
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: refused by torch's weights-only loader ({str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: corrupt torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict):
        raise UnknownFormatError(f"{path}: a torch file holding {type(ckpt).__name__}, not a checkpoint dict")
    name = network or ("g_ema" if "g_ema" in ckpt else "g")
    sd = ckpt.get(name)
    if not isinstance(sd, dict) or "style.1.weight" not in sd:
        has_generator = any(isinstance(ckpt.get(k), dict) and "style.1.weight" in ckpt[k] for k in ("g_ema", "g"))
        if network is not None and has_generator:
            raise InputError(f"{path}: no generator {network!r} in this rosinality checkpoint; use g_ema or g")
        raise UnknownFormatError(f"{path}: a torch checkpoint without a rosinality generator under {name!r} "
                                 f"(keys: {sorted(map(str, ckpt))[:8]})")
    cfg = rosinality_pt.rosinality_config(sd)
    latent_avg = ckpt.get("latent_avg")
    notes = []
    state = rosinality_pt.from_rosinality(sd, cfg, latent_avg if name == "g_ema" else None)
    if "mapping.w_avg" not in state:
        notes.append(f"no latent_avg in checkpoint: w_avg estimated from {W_AVG_SAMPLES} seeded samples")
    return "rosinality-pt", name, cfg, state, notes


def _sniff_and_load(path: Path, network: str | None):
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(f"{path}: empty file")
    if is_safetensors(head):
        state, cfg, _ = native.native_generator_state(path)
        return "s2edit-native", "generator", cfg, state, []
    if head[:2] == b"PK":
        return _load_torch(path, network)
    if head[:1] == b"\x80":
        result = _load_pickle(path, network)
        return result if result is not None else _load_torch(path, network)
    raise UnknownFormatError(f"{path}: unknown checkpoint format (tried s2edit .safetensors, NVlabs/TF pickle, "
                             f"torch/rosinality .pt)")


def load_generator(source="demo", device="cpu", network: str | None = None, sha256: str | None = None,
                   progress=None) -> Generator:
    """Load a generator from a path, URL, short name (``ffhq``, ...) or ``"demo"``; format sniffed.

    Args:
        source: checkpoint path, http(s) URL, or a name from ``KNOWN_NETWORKS`` / ``"demo"``.
        device: where to put the generator.
        network: which network of a snapshot: ``G_ema`` (default) or ``G`` for ADA and StyleGAN3 pickles, ``Gs``/``G``
            for TF pickles, ``g_ema``/``g`` for rosinality training checkpoints.
        sha256: optional expected digest of a downloaded file.
        progress: optional ``callback(done_bytes, total_bytes)`` for downloads.
    Returns:
        ``Generator`` (``StyleGAN3Generator`` for StyleGAN3 files) in eval mode with gradients disabled, and
        ``G.checkpoint`` describing the source.
    """
    if str(source) == "demo" and not Path("demo").exists():
        path = _demo_path()
        if not path.is_file():
            raise InputError("the demo model is not installed in this package (stylegan2_core/assets/demo.safetensors)")
        loaded = None
    else:
        loaded = []

        def validate(tmp: Path) -> None:
            """A download enters the cache only if it loads (an HTML error page served with 200 does not)."""
            try:
                loaded.append(_sniff_and_load(Path(tmp), network))
            except (CheckpointError, InputError) as err:
                detail = str(err).replace(f"{tmp}: ", "")
                raise CheckpointError(f"{source}: the download is not a loadable checkpoint ({detail}); "
                                      "nothing was cached") from None

        path = resolve_source(source, sha256=sha256, progress=progress, validate=validate)
    try:
        fmt, name, cfg, state, notes = loaded[0] if loaded else _sniff_and_load(path, network)
    except (CheckpointError, InputError) as err:
        msg = str(err)
        raise type(err)(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    needs_w_avg = "mapping.w_avg" not in state
    if needs_w_avg:
        state["mapping.w_avg"] = torch.zeros([cfg.w_dim])
    G = _build(cfg, state, str(path))
    if needs_w_avg:
        G.mapping.w_avg.copy_(estimate_w_avg(G))
    for note in notes:
        log.warning("%s: %s", path, note)
    G.checkpoint = CheckpointInfo(format=fmt, path=str(path), sha256=sha256_file(path), network=name, notes=notes,
                                  model_id=model_id(G))
    return G.eval().requires_grad_(False).to(device)


def save_generator(G: Generator | StyleGAN3Generator, path, fmt: str | None = None, extra: dict | None = None) -> Path:
    """Save ``G`` as native ``.safetensors`` (default) or rosinality ``.pt`` (by suffix or ``fmt``; StyleGAN2 only)."""
    path = Path(path)
    fmt = fmt or ("rosinality-pt" if path.suffix in (".pt", ".pth") else "s2edit-native")
    if fmt == "rosinality-pt" and isinstance(G.cfg, StyleGAN3Config):
        raise InputError(f"{path}: rosinality .pt holds StyleGAN2 generators only; save a StyleGAN3 "
                         "generator as .safetensors")
    state = {k: v.detach().cpu() for k, v in G.state_dict().items() if not k.endswith(_FILTER_SUFFIXES)}
    if fmt == "s2edit-native":
        native.write_native(path, state, G.cfg, extra=extra)
    elif fmt == "rosinality-pt":
        try:
            ckpt = rosinality_pt.to_rosinality(state, G.cfg)
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
        atomic_write(path, lambda tmp: torch.save(ckpt, tmp))
    else:
        raise InputError(f"unknown output format {fmt!r}; use .safetensors or .pt")
    return path
