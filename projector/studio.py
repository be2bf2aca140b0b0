"""The studio's state and computation: everything the browser editor does, callable without a browser.

A ``StudioNetwork`` is one generator named on the command line, shared by every tab, whose
directions are found once, on demand (SeFa, GANSpace PCA, direction files and, for the demo
network, the world's attributes fitted with the shipped predictor). A ``StudioSession`` is one
tab: a latent (from a seed, a photo's projection or a latent file), the edit state with undo,
renders and exports. A ``ProjectionSlot`` lets one projection run per server at a time.

The studio holds no algorithm of its own: directions come from ``projector.edits``, projection
from ``projector.project``, files from ``projector.latent_file``, ``projector.images`` and
``projector.video``. Slider values are in units of sigma, the std of w along the direction
(the convention of ``docs/benchmarks.md``).
"""

from __future__ import annotations

import copy
import importlib.util
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, S2EditError
from stylegan2_core.image import to_uint8
from stylegan2_core.latent import z_from_seeds, z_samples

from .edits import (
    DirectionSet,
    apply_direction,
    fit_direction,
    interpolate,
    labels_from_predictor,
    layer_ranges,
    load_directions,
    parse_layers,
    pca,
    save_directions,
    sefa,
    style_mix,
)
from .images import image_size, prepare_target, read_image, save_image
from .latent_file import load_latent, model_provenance, save_latent, save_projected_w_npz
from .outputs import check_outputs, projection_report
from .project import DEFAULT_PRESET, ProjectorConfig, project
from .video import VideoWriter

__all__ = [
    "StudioBusyError",
    "Direction",
    "StudioNetwork",
    "ProjectionSlot",
    "ProjectionOptions",
    "ProjectionUpdate",
    "StudioSession",
    "DEFAULT_STATE",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "TUNING_AVAILABLE",
    "check_upload_image",
    "safe_name",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 25_000_000  # a 24-megapixel camera photo fits; decoding it takes ~300 MB
# Pivotal tuning (``projector.tune``) is offered when this version has it.
TUNING_AVAILABLE = importlib.util.find_spec("projector.tune") is not None
DEFAULT_STATE = {"edits": {}, "truncation": 1.0, "mix": None, "mix_layers": "coarse", "noise": True}
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")
_SIGMA_SAMPLES = 2000


class StudioBusyError(S2EditError):
    """Another projection is running on this server."""


def _number(value, what: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: {value!r} is not a number") from None
    if not low <= number <= high:  # also refuses NaN
        raise InputError(f"{what} {number:g} out of range {low:g} .. {high:g}")
    return number


def safe_name(text: str, default: str = "image") -> str:
    """A file-name stem made only of letters, digits, ``_`` and ``-`` (no path can come through)."""
    stem = _NAME_RE.sub("_", Path(str(text)).stem).strip("_-")[:48]
    return stem or default


def _upload_suffix(data: bytes) -> str | None:
    """The suffix the studio decodes an upload with, by its signature: PNG, JPEG, WebP or BMP; None otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".bmp" if data[:2] == b"BM" else None


def check_upload_image(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                       max_pixels: int = MAX_UPLOAD_PIXELS) -> str:
    """Refuse an upload before decoding it: too many bytes, not a PNG/JPEG/WebP/BMP, or too many pixels
    by its header (``projector.images.image_size``: a decompression bomb). Returns the file suffix to decode it with."""
    import io

    if not data:
        raise InputError(f"{name}: empty file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: {len(data) / 2**20:.1f} MiB is over the upload limit of {max_bytes / 2**20:.0f} MiB")
    suffix = _upload_suffix(data)
    if suffix is None:
        raise InputError(f"{name}: not an image the studio reads (PNG, JPEG, WebP or BMP)")
    buffer = io.BytesIO(data)
    try:
        w, h = image_size(buffer)
    except InputError as err:
        raise InputError(str(err).replace(str(buffer), name)) from None
    if w < 1 or h < 1:
        raise InputError(f"{name}: image header says {w}x{h} pixels")
    if w * h > max_pixels:
        raise InputError(f"{name}: {w}x{h} = {w * h / 1e6:.0f} megapixels is over the limit of "
                         f"{max_pixels / 1e6:.0f}; refused before decoding")
    return suffix


@dataclass
class Direction:
    """One slider: a unit vector in W with its strength unit ``sigma`` (std of w along it) and default layers."""

    id: str
    name: str
    group: str
    vector: torch.Tensor
    sigma: float
    layers: list[int] | None = None
    value: float = float("nan")  # the method's value: eigenvalue, std or validation accuracy

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "group": self.group, "sigma": self.sigma,
                "layers": self.layers, "value": None if np.isnan(self.value) else self.value}


class StudioNetwork:
    """One generator the server may use, shared by all sessions; its directions are computed once, on demand.

    Args:
        name: what the command line said (``demo``, a path); shown in the page, never taken from it.
        G: the loaded generator (unconditional).
        direction_files: supervised directions (``projector.edits.load_directions`` files).
        world_samples: generated images scored for the world-attribute fit (demo network only).
        pca_samples: z samples behind the PCA directions.
        k: SeFa and PCA directions offered.
        cache_dir: where the world-attribute fit is kept between runs (a directions file); None: not kept.
    """

    def __init__(self, name: str, G, direction_files=(), world_samples: int = 1000, pca_samples: int = 10_000,
                 k: int = 8, cache_dir=None):
        if G.c_dim:
            raise InputError(f"{name}: conditional network ({G.c_dim} classes); the studio edits unconditional ones")
        self.name, self.G = name, G
        self.k, self.world_samples, self.pca_samples = k, world_samples, pca_samples
        self.direction_files = [Path(p) for p in direction_files]
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache: dict[str, list[Direction]] = {}
        # One lock per group: a long world fit never holds up renders that use other directions.
        self._group_locks = {group: threading.Lock() for group in self.groups()}
        self._sample_lock, self._distance_lock = threading.Lock(), threading.Lock()
        self._w_samples: torch.Tensor | None = None
        self._distances: dict[str, tuple] = {}
        self._w_avg = G.mapping.w_avg.detach().reshape(1, 1, -1)
        self.progress: dict[str, tuple[int, int]] = {}  # group -> (done, total) while a fit runs
        if self.direction_files:
            self.directions("files")  # a bad file fails at start, not in the page

    @property
    def is_demo(self) -> bool:
        return self.name == "demo"

    @property
    def device(self) -> torch.device:
        return self.G.mapping.w_avg.device

    def groups(self) -> list[str]:
        """Direction groups this network offers."""
        return ["sefa", "pca"] + (["world"] if self.is_demo else []) + (["files"] if self.direction_files else [])

    def info(self) -> dict:
        G = self.G
        return {"name": self.name, "resolution": G.img_resolution, "num_ws": G.num_ws, "w_dim": G.w_dim,
                "groups": self.groups(), "layer_groups": {k: v for k, v in layer_ranges(G.num_ws).items() if v}}

    @torch.no_grad()
    def _sigma(self, vector: torch.Tensor) -> float:
        with self._sample_lock:
            if self._w_samples is None:
                z = z_samples(_SIGMA_SAMPLES, self.G.z_dim, 0).to(self.device)
                self._w_samples = torch.cat([self.G.mapping(chunk, None)[:, 0] for chunk in z.split(500)])
        return float((self._w_samples @ vector.to(self.device)).std())

    def _wrap(self, group: str, ds, ids=None) -> list[Direction]:
        out = []
        for i, name in enumerate(ds.names):
            vector = ds.directions[i].to(self.device)
            out.append(Direction(ids[i] if ids else f"{group}:{i}", name, group, vector, self._sigma(vector),
                                 ds.layers, float(ds.values[i])))
        return out

    def directions(self, group: str) -> list[Direction]:
        """The directions of ``group`` ('sefa', 'pca', 'world', 'files'), computed on first use."""
        if group not in self._group_locks:
            raise InputError(f"network {self.name!r} has no {group!r} directions (it has {', '.join(self.groups())})")
        found = self._cache.get(group)
        if found is None:
            with self._group_locks[group]:
                if group not in self._cache:
                    self._cache[group] = self._compute(group)
                found = self._cache[group]
        return found

    def _compute(self, group: str) -> list[Direction]:
        G = self.G
        if group == "sefa":
            return self._wrap(group, sefa(G, None, min(self.k, G.w_dim)))
        if group == "pca":
            return self._wrap(group, pca(G, num_samples=self.pca_samples, k=min(self.k, G.w_dim)))
        if group == "world":
            return self._world()
        out = []
        for f, path in enumerate(self.direction_files):
            ds = load_directions(path)
            if ds.directions.shape[1] != G.w_dim:
                raise InputError(f"{path}: directions have w_dim {ds.directions.shape[1]}, the network {G.w_dim}")
            out += self._wrap("files", ds, [f"file{f}:{i}" for i in range(len(ds))])
        return out

    def _world(self) -> list[Direction]:
        """The world's attribute directions: from the cache file when there is one, else fitted and cached."""
        cached = None
        if self.cache_dir is not None:
            cached = self.cache_dir / f"world-{model_provenance(self.G)['model_id'][:16]}-{self.world_samples}.npz"
        if cached is not None and cached.is_file():
            ds = load_directions(cached)
        else:
            ds = self._fit_world()
            if cached is not None:
                save_directions(cached, ds)
        return self._wrap("world", ds, [f"world:{name}" for name in ds.names])

    def _fit_world(self) -> DirectionSet:
        """InterFaceGAN directions for the world's attributes: one scoring pass, one SVM per attribute."""
        from .world.predictor import default_predictor

        predictor = default_predictor().to(self.device)
        scores = []

        def predict_all(images):  # keep every attribute's score from the one rendering pass
            values = predictor.predict_labels(images)
            scores.append(values.cpu())
            return values[:, 0]

        done = [0]

        def advance(n):
            done[0] += n
            self.progress["world"] = (done[0], self.world_samples)

        try:
            ws, _ = labels_from_predictor(self.G, predict_all, self.world_samples, seed=0, progress=advance)
            table = torch.cat(scores)
            fits = [fit_direction(ws, table[:, a], name=name) for a, name in enumerate(predictor.names)]
        finally:
            self.progress.pop("world", None)
        return DirectionSet(torch.cat([f.directions for f in fits]), list(predictor.names), fits[0].method, None,
                            torch.cat([f.values for f in fits]),
                            {"source": "studio world-attribute fit", "num_samples": self.world_samples,
                             **model_provenance(self.G)})

    def direction(self, direction_id: str) -> Direction:
        group = "files" if direction_id.startswith("file") else direction_id.split(":", 1)[0]
        for d in self.directions(group):
            if d.id == direction_id:
                return d
        raise InputError(f"unknown direction {direction_id!r}")

    def distance(self, loss: str):
        """The perceptual distance for projections, built once per loss: (distance, notice)."""
        from .losses import make_perceptual

        with self._distance_lock:
            if loss not in self._distances:
                self._distances[loss] = make_perceptual(loss, device=self.device)
            return self._distances[loss]

    def truncate(self, ws: torch.Tensor, psi: float) -> torch.Tensor:
        """Move ``ws`` toward the network's mean w (psi = 1: unchanged), as the mapping network's truncation."""
        return ws if psi == 1 else self._w_avg.to(ws).lerp(ws, psi)


class ProjectionSlot:
    """One projection at a time per server: who holds it and whether it was asked to stop."""

    def __init__(self):
        self._lock = threading.Lock()
        self.owner: str | None = None
        self.stop = threading.Event()

    def acquire(self, owner: str) -> None:
        if not self._lock.acquire(blocking=False):
            raise StudioBusyError("another projection is running on this server; try again when it ends")
        self.owner = owner
        self.stop.clear()

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self.owner is not None


@dataclass(frozen=True)
class ProjectionOptions:
    """What the projection panel sets; ``preset``, ``steps``, ``space``, ``noise`` and ``loss`` as
    ``s2edit project`` (``steps`` None: the preset's; ``space`` None: the preset's, W before tuning)."""

    preset: str = DEFAULT_PRESET
    steps: int | None = None
    space: str | None = None
    noise: str = "optimize"  # or 'fixed'
    loss: str = "auto"
    seed: int = 0
    tune: bool = False  # pivotal tuning (projector.tune) after the projection
    tune_steps: int | None = None  # None: TuneConfig's default

    def config(self) -> ProjectorConfig:
        if self.noise not in ("optimize", "fixed"):
            raise InputError(f"noise must be 'optimize' or 'fixed', got {self.noise!r}")
        if self.steps is not None and not 1 <= self.steps <= 5000:
            raise InputError(f"steps must be 1 .. 5000, got {self.steps}")
        if self.tune and not TUNING_AVAILABLE:
            raise InputError("pivotal tuning is not available in this version")
        space = self.space
        if self.tune:
            from .tune import pivot_space

            space = pivot_space(space, tuning=True)
        return ProjectorConfig.preset(self.preset, steps=self.steps, space=space,
                                      optimize_noise=self.noise == "optimize", seed=self.seed)


@dataclass
class ProjectionUpdate:
    """A progress report: the phase ('project' or 'tune'), the step, the distance so far and the step's render
    (HWC uint8; None while tuning, which renders no image per step)."""

    step: int
    num_steps: int
    distance: float
    image: np.ndarray | None
    phase: str = "project"


class _Stopped(Exception):
    pass


class _LastSynthesisInputs:
    """Records the ws and noise maps of the projection thread's latest synthesis call.

    ``project`` reports each step's image and the latent after the step (an Adam step's image is
    drawn before its update, with latent noise); when a projection is stopped, these inputs are the
    latent of the last image the user saw, so the stopped result can be kept.
    """

    def __init__(self, synthesis):
        self.synthesis, self.thread = synthesis, threading.get_ident()
        self.ws = self.noise = None

    def _hook(self, module, args, kwargs):
        if threading.get_ident() == self.thread:
            self.ws = args[0].detach().clone()
            noise = kwargs.get("noise")
            self.noise = [m.detach().clone() for m in noise] if noise else None

    def __enter__(self):
        self.handle = self.synthesis.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@dataclass
class _Latent:
    ws: torch.Tensor  # [1, num_ws, w_dim]
    noise: list[torch.Tensor] | None = None
    label: str = "latent"
    meta: dict = field(default_factory=dict)


class StudioSession:
    """One browser tab's editor: a latent, its edits (with undo), renders, projection and exports.

    Args:
        networks: the server's networks; the session picks one by index.
        outdir: every file the session writes goes under this folder.
        slot: the server's projection slot (shared by all sessions).
        sid: this session's id (the slot's owner while it projects).
    """

    def __init__(self, networks: list[StudioNetwork], outdir, slot: ProjectionSlot | None = None, sid: str = "local",
                 network: int = 0):
        if not networks:
            raise InputError("the studio needs at least one network")
        self.networks, self.outdir, self.sid = networks, Path(outdir), sid
        self.slot = slot or ProjectionSlot()
        self._lock = threading.RLock()
        self.exports: list[Path] = []
        self.select_network(network)

    # ----- what is being edited
    @property
    def net(self) -> StudioNetwork:
        return self.networks[self.network_index]

    @property
    def G(self):
        """The generator for this image: the network's, or its pivotally tuned copy after a tuned projection."""
        return self.tuning[0] if self.tuning is not None else self.net.G

    def _check_idle(self) -> None:
        """What to edit cannot change under a running projection of this session (its result would replace it)."""
        if self.slot.owner == self.sid:
            raise StudioBusyError("this page's projection is running: wait for it or press Stop first")

    def select_network(self, index: int) -> None:
        self._check_idle()
        if not 0 <= int(index) < len(self.networks):
            raise InputError(f"network {index} out of range: the server has {len(self.networks)}")
        with self._lock:
            self.network_index = int(index)
            self.tuning: tuple | None = None  # (tuned G, update, TuneConfig)
            self.target: torch.Tensor | None = None
            self.report: dict | None = None
            self.mix_latent: torch.Tensor | None = None
            self.start_from_seed(0)

    def _reset(self, latent: _Latent) -> None:
        self.base = latent
        self.state = copy.deepcopy(DEFAULT_STATE)
        self._committed = copy.deepcopy(self.state)
        self.history: list[dict] = []

    @torch.no_grad()
    def start_from_seed(self, seed: int, truncation_psi: float = 1.0) -> None:
        """Edit the image of ``seed`` (the official scripts' z)."""
        self._check_idle()
        if not 0 <= int(seed) < 2**32:
            raise InputError(f"seed {seed} out of range (0 .. 2**32-1)")
        G = self.net.G
        ws = G.mapping(z_from_seeds([int(seed)], G.z_dim).to(self.net.device), None, truncation_psi=truncation_psi)
        with self._lock:
            self.target, self.report, self.tuning = None, None, None
            self._reset(_Latent(ws, None, f"seed{int(seed)}", {"source": f"seed {int(seed)}"}))

    def start_from_latent(self, path, label: str | None = None) -> dict:
        """Edit the first latent of a latent file (ours, ``projected_w.npz``, ``.npy``/``.npz``)."""
        self._check_idle()
        record = load_latent(path, self.net.G)
        label = safe_name(label or Path(path).stem, "latent")
        with self._lock:
            self.target, self.report, self.tuning = None, None, None
            noise = [m[:1] for m in record.noise] if record.noise else None
            self._reset(_Latent(record.ws[:1], noise, label, {"source": f"latent file {label}"}))
        warning = f"this latent was {record.meta['model_mismatch']}" if record.meta.get("model_mismatch") else None
        return {"latents": int(record.ws.shape[0]), "warning": warning}

    def set_mix_latent(self, path) -> None:
        """Use the first latent of a file as the style-mixing source."""
        with self._lock:
            self.mix_latent = load_latent(path, self.net.G).ws[:1]

    def load_photo(self, path, label: str | None = None, align: bool = False) -> dict:
        """Read a photo (centre-cropped, or FFHQ-aligned) as the projection target; returns what the page shows."""
        self._check_idle()
        res = self.net.G.img_resolution
        info: dict = {}
        if align:
            from .align import align_file

            face = align_file(path, res)[0]
            target, prep = prepare_target(face.image.astype(np.float32) / 255, res)
            info["landmarks"] = np.asarray(face.landmarks).tolist()
            info["source_size"] = list(face.source_size)
        else:
            target, prep = prepare_target(read_image(path), res)
            info["source_size"] = list(prep.source_size)
        with self._lock:
            self.target, self.report, self.tuning = target, None, None
            self.preprocessing = prep
            stem = safe_name(label or Path(path).stem)
            mean = self.net.G.mapping.w_avg.reshape(1, 1, -1).expand(-1, self.net.G.num_ws, -1).clone()
            self._reset(_Latent(mean, None, stem, {"source": f"photo {stem}"}))  # shown until projected
        return info

    # ----- the edit state
    def _checked(self, state: dict) -> dict:
        """``state`` with numbers as numbers; ``InputError`` for anything a page could send wrong."""
        G = self.net.G
        state["truncation"] = _number(state["truncation"], "truncation", 0, 2)
        state["noise"] = bool(state["noise"])
        if not isinstance(state["edits"], dict):
            raise InputError("edits must map direction ids to {value, layers}")
        for did, e in state["edits"].items():
            self.net.direction(did)
            if not isinstance(e, dict):
                raise InputError(f"{did}: expected {{value, layers}}, got {e!r}")
            e["value"] = _number(e.get("value"), f"{did}: strength (sigma)", -10, 10)
            e["layers"] = str(e.get("layers", "default"))
            if e["layers"] not in ("default", "all"):
                parse_layers(e["layers"], G.num_ws)
        mix = state["mix"]
        if mix is not None:
            if not isinstance(mix, dict):
                raise InputError("mix must be {seed: N}, {} for the second latent, or null")
            if "seed" in mix:
                mix["seed"] = int(_number(mix["seed"], "mixing seed", 0, 2**32 - 1))
            elif self.mix_latent is None:
                raise InputError("style mixing with a latent: load a second latent first")
            state["mix_layers"] = str(state["mix_layers"])
            parse_layers(state["mix_layers"], G.num_ws)
        return state

    def update(self, changes: dict, commit: bool = True) -> dict:
        """Apply ``changes`` (keys of ``DEFAULT_STATE``; ``edits`` entries merged, value 0 removes one).

        ``commit`` makes the previous committed state an undo step: a slider drag sends uncommitted
        updates and one committed update when released.
        """
        if not isinstance(changes, dict):
            raise InputError("changes must be an object of settings")
        with self._lock:
            state = copy.deepcopy(self.state)
            for key, value in changes.items():
                if key == "edits":
                    if not isinstance(value, dict) or not all(isinstance(e, dict) for e in value.values()):
                        raise InputError("edits must map direction ids to {value, layers}")
                    for did, e in value.items():
                        merged = {**state["edits"].get(did, {"value": 0.0, "layers": "default"}), **e}
                        if merged.get("value") == 0:
                            state["edits"].pop(did, None)
                        else:
                            state["edits"][did] = merged
                elif key in DEFAULT_STATE:
                    state[key] = value
                else:
                    raise InputError(f"unknown setting {key!r}")
            self.state = self._checked(state)
            if commit and self.state != self._committed:
                self.history.append(self._committed)
                self._committed = copy.deepcopy(self.state)
            return self.state

    def undo(self) -> dict:
        """Go back to the previous committed state."""
        with self._lock:
            if self.history:
                self.state = self.history.pop()
                self._committed = copy.deepcopy(self.state)
            return self.state

    def edited_ws(self, state: dict | None = None) -> torch.Tensor:
        """The latent the state describes: truncation, then each direction on its layers, then style mixing."""
        with self._lock:
            state = copy.deepcopy(self.state if state is None else state)
            ws = self.base.ws
            mix_latent = self.mix_latent
        net = self.net
        ws = net.truncate(ws, state["truncation"])
        for did, e in state["edits"].items():
            d = net.direction(did)
            spec = e.get("layers", "default")
            layers = d.layers if spec == "default" else None if spec == "all" else parse_layers(spec, ws.shape[1])
            ws = apply_direction(ws, d.vector, e["value"] * d.sigma, layers)
        if state["mix"] is not None:
            G = self.net.G
            if "seed" in state["mix"]:
                with torch.no_grad():
                    other = G.mapping(z_from_seeds([int(state["mix"]["seed"])], G.z_dim).to(net.device), None)
            else:
                other = mix_latent
            ws = style_mix(ws, other, parse_layers(state["mix_layers"], G.num_ws))
        return ws

    def _noise(self, state: dict, n: int = 1) -> tuple[str, list | None]:
        if not state["noise"]:
            return "none", None
        noise = self.base.noise
        return "const", [m.expand(n, -1, -1, -1) for m in noise] if noise else None

    @torch.inference_mode()
    def render(self, before: bool = False, state: dict | None = None) -> np.ndarray:
        """The current edit (or the unedited latent with ``before``) as HWC uint8."""
        with self._lock:
            state = copy.deepcopy(DEFAULT_STATE if before else self.state if state is None else state)
        mode, noise = self._noise(state)
        image = self.G.synthesis(self.edited_ws(state), noise_mode=mode, noise=noise)
        return to_uint8(image)[0]

    @torch.inference_mode()
    def thumbnails(self, direction_id: str, values=(-2.0, -1.0, 0.0, 1.0, 2.0)) -> np.ndarray:
        """A strip of the unedited latent moved along one direction by ``values`` sigma: HWC uint8.

        From the unedited latent, so the strips stay valid while sliders move (the page reloads them for a
        new latent only)."""
        d = self.net.direction(direction_id)
        state = copy.deepcopy(DEFAULT_STATE)
        ws = self.edited_ws(state)
        batch = apply_direction(ws, d.vector, torch.tensor(values) * d.sigma, d.layers)
        mode, noise = self._noise(state, len(values))
        pixels = to_uint8(self.G.synthesis(batch, noise_mode=mode, noise=noise))
        return np.concatenate(list(pixels), axis=1)

    def info(self) -> dict:
        """What the page shows about this session."""
        with self._lock:
            return {"network": self.network_index, "source": self.base.label, "state": self.state,
                    "undo": len(self.history), "has_target": self.target is not None,
                    "projected": self.report is not None, "report": self.report, "tuned": self.tuning is not None,
                    "saved_noise": self.base.noise is not None, "mix_latent": self.mix_latent is not None}

    def target_image(self) -> np.ndarray | None:
        with self._lock:
            return None if self.target is None else to_uint8(self.target)[0]

    # ----- projection
    def project(self, options: ProjectionOptions = ProjectionOptions(),
                progress: Callable[[ProjectionUpdate], None] | None = None, every: int | None = None) -> dict:
        """Project the loaded photo with ``projector.project`` (then tune with ``projector.tune`` when asked);
        the result becomes the latent being edited.

        Holds the server's projection slot (``StudioBusyError`` while another runs). ``progress`` gets
        a ``ProjectionUpdate`` every ``every`` steps (default: about 20 updates per run) and at the last
        step. ``slot.stop`` ends the run early and keeps the latent of the last step (a stopped tuning
        keeps the untuned generator).
        """
        cfg = options.config()
        with self._lock:
            if self.target is None:
                raise InputError("load a photo first: projection needs a target")
            target, label, prep = self.target, self.base.label, self.preprocessing
        net = self.net
        distance, notice = net.distance(options.loss)
        self.slot.acquire(self.sid)
        tuned = None
        try:
            on_step = self._reporter(progress, every or max(1, cfg.total_steps // 20), "project")
            with _LastSynthesisInputs(net.G.synthesis) as last:
                try:
                    result = project(net.G, target, cfg, distance=distance, callback=on_step)
                    ws, noise = result.ws, result.noise if cfg.optimize_noise else None
                    report = {**projection_report(result, 0, target, cfg), "stopped": False}
                except _Stopped:
                    ws = last.ws[:1].clone()
                    noise = [m[:1] for m in last.noise] if last.noise and cfg.optimize_noise else None
                    report = {"steps": None, "loss": getattr(distance, "name", "custom"), "stopped": True}
            if options.tune and not report["stopped"]:
                tuned, report["tuning"] = self._tune(target, ws, noise, distance, options, progress, every)
        finally:
            self.slot.release()
        with self._lock:
            self._reset(_Latent(ws, noise, label, {"source": f"projection of {label}", "space": cfg.space,
                                                   "projector": asdict(cfg), "loss": report.get("loss"),
                                                   "preprocessing": asdict(prep)}))
            self.report = {**report, "notice": notice}
            self.tuning = tuned
        return self.report

    def _reporter(self, progress, every: int, phase: str):
        """A projection/tuning callback: reports every ``every`` steps and at the last, and obeys the stop flag."""
        def on_step(s):
            if progress is not None and (s.step % every == 0 or s.step == s.num_steps - 1):
                image = getattr(s, "images", None)
                progress(ProjectionUpdate(s.step + 1, s.num_steps, float(s.distance.mean()),
                                          None if image is None else to_uint8(image[:1].clamp(-1, 1))[0], phase))
            if self.slot.stop.is_set():
                raise _Stopped

        return on_step

    def _tune(self, target, ws, noise, distance, options, progress, every):
        """Pivotal tuning around the projection: ((tuned G, update, config), report); (None, report) if stopped."""
        from .tune import TuneConfig, tune

        cfg = TuneConfig() if options.tune_steps is None else TuneConfig(steps=options.tune_steps)
        on_step = self._reporter(progress, every or max(1, cfg.steps // 20), "tune")
        try:
            result = tune(self.net.G, target, ws, cfg, distance=distance, noise=noise, callback=on_step)
        except _Stopped:
            return None, {"stopped": True}
        return (result.generators[0], result.updates[0], cfg), {
            "stopped": False, "steps": result.steps[0], "perceptual_distance": float(result.distance[0]),
            "psnr_db": float(result.psnr[0]), "ssim": float(result.ssim[0]), "seconds": round(result.seconds, 3)}

    # ----- exports
    def _paths(self, suffixes: tuple[str, ...]) -> list[Path]:
        """Fresh output paths ``<outdir>/<label>-<n><suffix>`` (the first n for which none exists)."""
        stem = safe_name(self.base.label)
        n = 1
        while any((self.outdir / f"{stem}-{n}{s}").exists() for s in suffixes):
            n += 1
        paths = [self.outdir / f"{stem}-{n}{s}" for s in suffixes]
        check_outputs(paths, force=False)
        return paths

    def _meta(self) -> dict:
        G = self.net.G
        provenance = model_provenance(G)
        with self._lock:
            return {**self.base.meta, "space": "w+", **provenance,
                    "network": self.net.name, "resolution": G.img_resolution, "studio_state": copy.deepcopy(self.state)}

    def export_png(self) -> list[Path]:
        """The current edit as ``<label>-<n>.png``."""
        (path,) = self._paths((".png",))
        with torch.inference_mode():
            with self._lock:
                state = copy.deepcopy(self.state)
            mode, noise = self._noise(state)
            save_image(path, self.G.synthesis(self.edited_ws(state), noise_mode=mode, noise=noise))
        return self._record([path])

    def export_latent(self) -> list[Path]:
        """The edited latent: an s2edit latent file (with the saved noise) and the official ``projected_w.npz``;
        after pivotal tuning also the tuned generator's update (``projector.tune.save_tuned``)."""
        with self._lock:
            noise = self.base.noise if self.state["noise"] else None
            tuning = self.tuning
        suffixes = (".safetensors", ".npz") + ((".tuned.safetensors",) if tuning else ())
        paths = self._paths(suffixes)
        with torch.no_grad():
            ws = self.edited_ws()
        meta = self._meta()
        if tuning:
            from .tuned_file import save_tuned

            _, update, cfg = tuning
            save_tuned(paths[2], self.net.G, update, cfg)
            meta["tuned"] = paths[2].name
        save_latent(paths[0], ws, noise, meta=meta)
        save_projected_w_npz(paths[1], ws)
        return self._record(paths)

    @torch.inference_mode()
    def export_video(self, frames_per_step: int = 12, fps: float = 24) -> list[Path]:
        """An mp4 of the slider path: the unedited latent, every committed state, then the current one."""
        (path,) = self._paths((".mp4",))
        with self._lock:
            states = [copy.deepcopy(DEFAULT_STATE), *self.history, copy.deepcopy(self.state)]
        keys = torch.cat([self.edited_ws(s) for s in states])
        keep = [0] + [i for i in range(1, len(keys)) if not torch.equal(keys[i], keys[i - 1])]
        keys = keys[keep]
        if len(keys) < 2:
            raise InputError("nothing to animate: move a slider first")
        mode, noise = self._noise(states[-1], 8)
        with VideoWriter(path, fps=fps) as writer:
            for batch in interpolate(keys, frames_per_step, batch_size=8):
                batch_noise = [m[:len(batch)] for m in noise] if noise else None
                writer.append(to_uint8(self.G.synthesis(batch, noise_mode=mode, noise=batch_noise)))
        return self._record([path])

    def _record(self, paths: list[Path]) -> list[Path]:
        with self._lock:
            self.exports += paths
        return paths
