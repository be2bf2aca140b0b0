"""One browser tab's editor, callable without a browser: a latent (from a seed, a photo's projection
or a latent file), the edit state with undo, renders and exports.

The studio holds no algorithm of its own: directions come from ``projector.edits``, projection
from ``projector.project`` and ``projector.tune`` (via ``.projection``), files from
``projector.latent_file``, ``projector.images`` and ``projector.video``.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError, S2EditError
from stylegan2_core.fileio import safetensors_metadata, sha256_file
from stylegan2_core.image import to_uint8
from stylegan2_core.latent import z_from_seeds

from ..edits import apply_direction, interpolate, parse_layers, style_mix, ws_resolutions
from ..images import prepare_target, read_image, save_image
from ..latent_file import load_latent, model_provenance, save_latent, save_projected_w_npz
from ..outputs import check_outputs
from ..tune import TuneConfig
from ..tuned_file import load_tuned, read_tuned, recorded_tuned_file, save_tuned
from ..video import VideoWriter
from .network import StudioNetwork
from .projection import ProjectionOptions, ProjectionSlot, ProjectionUpdate, StudioBusyError, Tuning, run_projection

__all__ = ["StudioSession", "DEFAULT_STATE", "safe_name", "number", "whole_number"]

DEFAULT_STATE = {"edits": {}, "truncation": 1.0, "mix": None, "mix_layers": "coarse", "noise": True}
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


def number(value, what: str, low: float, high: float) -> float:
    """``value`` as a float in ``low .. high``; ``InputError`` for anything else (NaN and infinities too)."""
    if isinstance(value, bool):
        raise InputError(f"{what}: {value!r} is not a number")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what}: {value!r} is not a number") from None
    if not low <= result <= high:  # also refuses NaN
        raise InputError(f"{what} {result:g} out of range {low:g} .. {high:g}")
    return result


def whole_number(value, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``low .. high``: 3 and 3.0 pass; 3.5, 1e400, NaN, true and "x" are ``InputError``."""
    result = number(value, what, low, high)
    if not math.isfinite(result) or result != int(result):
        raise InputError(f"{what}: {value!r} is not a whole number")
    return int(result)


def safe_name(text: str, default: str = "image") -> str:
    """A file-name stem made only of letters, digits, ``_`` and ``-`` (no path can come through)."""
    stem = _NAME_RE.sub("_", Path(str(text)).stem).strip("_-")[:48]
    return stem or default


@dataclass
class _Latent:
    ws: torch.Tensor  # [1, num_ws, w_dim]
    noise: list[torch.Tensor] | None = None
    label: str = "latent"
    meta: dict = field(default_factory=dict)
    tuned_file: tuple[str, str | None] | None = None  # (name, sha256) of a tuned file it records, not yet opened


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
        return self.tuning.generator if self.tuning is not None else self.net.G

    def _check_idle(self) -> None:
        """What to edit cannot change under a running projection of this session (its result would replace it)."""
        if self.slot.owner == self.sid:
            raise StudioBusyError("this page's projection is running: wait for it or press Stop first")

    def select_network(self, index: int) -> None:
        self._check_idle()
        index = whole_number(index, "network", 0, len(self.networks) - 1)
        with self._lock:
            self.network_index = index
            self.tuning: Tuning | None = None
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
        seed = whole_number(seed, "seed", 0, 2**32 - 1)
        G = self.net.G
        ws = G.mapping(z_from_seeds([seed], G.z_dim).to(self.net.device), None, truncation_psi=truncation_psi)
        with self._lock:
            self.target, self.report, self.tuning = None, None, None
            self._reset(_Latent(ws, None, f"seed{seed}", {"source": f"seed {seed}"}))

    def open_file(self, path, label: str | None = None) -> dict:
        """A latent file to edit (``start_from_latent``), or the tuned file the current latent records
        (``open_tuned``), told apart by the file's metadata."""
        try:
            kind = safetensors_metadata(path).get("kind")
        except S2EditError:
            kind = None  # start_from_latent says what is wrong with it
        return self.open_tuned(path, label) if kind == "tuned" else self.start_from_latent(path, label)

    def start_from_latent(self, path, label: str | None = None) -> dict:
        """Edit the first latent of a latent file (ours, ``projected_w.npz``, ``.npy``/``.npz``).

        A latent projected with pivotal tuning records its tuned file: when that file lies next to
        it, edits render with the tuned generator, as ``s2edit edit`` does; when it does not, the
        base network draws it and the answer's ``warning`` says which file to open (``open_tuned``).
        """
        self._check_idle()
        path = Path(path)
        record = load_latent(path, self.net.G)
        recorded = recorded_tuned_file(path)
        label = safe_name(label or path.stem, "latent")
        tuned_file = None if recorded is None else (recorded[0].name, recorded[1])
        # recorded_tuned_file refuses a tuned file outside the latent's folder: an upload cannot reach the server's files
        tuning = self._read_tuning(*recorded) if recorded is not None and recorded[0].is_file() else None
        with self._lock:
            self.target, self.report, self.tuning = None, None, tuning
            noise = [m[:1] for m in record.noise] if record.noise else None
            self._reset(_Latent(record.ws[:1], noise, label, {"source": f"latent file {label}"},
                                tuned_file if tuning is None else None))
        warnings = [f"this latent was {record.meta['model_mismatch']}"] if record.meta.get("model_mismatch") else []
        if tuned_file is not None and tuning is None:
            warnings.append(f"{label} was projected with pivotal tuning: drawn with the base network until its "
                            f"tuned file {tuned_file[0]} is opened too")
        return {"latents": int(record.ws.shape[0]), "warning": "; ".join(warnings) or None,
                "tuned": tuning is not None}

    def open_tuned(self, path, label: str | None = None) -> dict:
        """Render the current latent with the tuned generator it records (``path``: that tuned file)."""
        self._check_idle()
        name = safe_name(label or Path(path).stem, "tuned")
        with self._lock:
            wanted = self.base.tuned_file
        if wanted is None:
            raise InputError(f"{name}: a tuned generator file; open the latent projected with it first")
        tuning = self._read_tuning(path, wanted[1])
        with self._lock:
            self.tuning, self.base.tuned_file = tuning, None
        return {"latents": 0, "warning": None, "tuned": True}

    def _read_tuning(self, path, sha256: str | None) -> Tuning:
        """The tuned generator in ``path`` over this network (checked against the latent's recorded sha256)."""
        generator = load_tuned(self.net.G, path, check_sha256=sha256)
        update, meta = read_tuned(path)
        config = TuneConfig.from_dict(meta["config"]) if meta.get("config") else None
        return Tuning(generator, {k: v.float() for k, v in update.items()}, config)

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
            from ..align import align_file

            face = align_file(path, res)[0]
            target, prep = prepare_target(face.image.astype(np.float32) / 255, res)
            info["landmarks"] = np.asarray(face.landmarks).tolist()
            info["source_size"] = list(face.source_size)
        else:
            target, prep = prepare_target(read_image(path), res)
            info["source_size"] = list(prep.source_size)
        stem = safe_name(label or Path(path).stem)
        start = self._photo_start(target, stem)  # shown until projected
        with self._lock:
            self.target, self.report, self.tuning = target, None, None
            self.preprocessing = prep
            self._reset(start)
        return info

    def _photo_start(self, target: torch.Tensor, stem: str) -> _Latent:
        """What a new photo shows until it is projected: the encoder's instant inversion (with the network's
        constant noise, as ``s2edit project --preset instant`` saves it) or, without an encoder, the mean w."""
        G, encoder = self.net.G, self.net.encoder
        if encoder is None:
            mean = G.mapping.w_avg.reshape(1, 1, -1).expand(-1, G.num_ws, -1).clone()
            return _Latent(mean, None, stem, {"source": f"photo {stem}"})
        ws = encoder.invert(target, G)
        return _Latent(ws, [m.clone() for m in G.synthesis.const_noise()], stem,
                       {"source": f"instant inversion of {stem}", "instant": True})

    # ----- the edit state
    def _checked(self, state: dict) -> dict:
        """``state`` with numbers as numbers; ``InputError`` for anything a page could send wrong."""
        G = self.net.G
        state["truncation"] = number(state["truncation"], "truncation", 0, 2)
        state["noise"] = bool(state["noise"])
        if not isinstance(state["edits"], dict):
            raise InputError("edits must map direction ids to {value, layers}")
        for did, e in state["edits"].items():
            self.net.direction(did)
            if not isinstance(e, dict):
                raise InputError(f"{did}: expected {{value, layers}}, got {e!r}")
            e["value"] = number(e.get("value"), f"{did}: strength (sigma)", -10, 10)
            e["layers"] = str(e.get("layers", "default"))
            if e["layers"] not in ("default", "all"):
                parse_layers(e["layers"], G.num_ws, ws_resolutions(G))
        mix = state["mix"]
        if mix is not None:
            if not isinstance(mix, dict):
                raise InputError("mix must be {seed: N}, {} for the second latent, or null")
            if "seed" in mix:
                mix["seed"] = whole_number(mix["seed"], "mixing seed", 0, 2**32 - 1)
            elif self.mix_latent is None:
                raise InputError("style mixing with a latent: load a second latent first")
            state["mix_layers"] = str(state["mix_layers"])
            parse_layers(state["mix_layers"], G.num_ws, ws_resolutions(G))
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
            layers = d.layers if spec == "default" else None if spec == "all" else parse_layers(spec, ws.shape[1], ws_resolutions(net.G))
            ws = apply_direction(ws, d.vector, e["value"] * d.sigma, layers)
        if state["mix"] is not None:
            G = self.net.G
            if "seed" in state["mix"]:
                with torch.no_grad():
                    other = G.mapping(z_from_seeds([int(state["mix"]["seed"])], G.z_dim).to(net.device), None)
            else:
                other = mix_latent
            ws = style_mix(ws, other, parse_layers(state["mix_layers"], G.num_ws, ws_resolutions(G)))
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
                    "saved_noise": self.base.noise is not None, "mix_latent": self.mix_latent is not None,
                    "instant": bool(self.base.meta.get("instant")) and self.report is None}

    def target_image(self) -> np.ndarray | None:
        with self._lock:
            return None if self.target is None else to_uint8(self.target)[0]

    # ----- projection
    def project(self, options: ProjectionOptions | None = None,
                progress: Callable[[ProjectionUpdate], None] | None = None, every: int | None = None) -> dict:
        """Project the loaded photo with ``projector.project`` (then tune with ``projector.tune`` when asked);
        the result becomes the latent being edited. With the network's encoder the projection starts from its
        inversion (the one shown since the photo was dropped).

        Holds the server's projection slot (``StudioBusyError`` while another runs). ``progress`` gets
        a ``ProjectionUpdate`` every ``every`` steps (default: about 20 updates per run) and at the last
        step. ``slot.stop`` ends the run early and keeps the latent of the last step (a stopped tuning
        keeps the untuned generator).
        """
        options = ProjectionOptions() if options is None else options
        cfg = options.config()
        with self._lock:
            if self.target is None:
                raise InputError("load a photo first: projection needs a target")
            target, label, prep = self.target, self.base.label, self.preprocessing
        distance, notice = self.net.distance(options.loss)
        self.slot.acquire(self.sid)
        try:
            outcome = run_projection(self.net.G, target, options, distance, self.slot, progress, every,
                                     encoder=self.net.encoder)
        finally:
            self.slot.release()
        with self._lock:
            self._reset(_Latent(outcome.ws, outcome.noise, label, {
                "source": f"projection of {label}", "space": cfg.space, "projector": asdict(outcome.config),
                "loss": outcome.report.get("loss"), "preprocessing": asdict(prep)}))
            self.report = {**outcome.report, "notice": notice}
            self.tuning = outcome.tuning
        return self.report

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
        if tuning:  # recorded as `s2edit project --tune` records it: every command renders it tuned
            save_tuned(paths[2], self.net.G, tuning.update, tuning.config)
            meta["tuned"] = {"file": paths[2].name, "sha256": sha256_file(paths[2])}
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
