"""The studio's networks: one generator named on the command line, shared by every tab, with its
slider directions found once, on demand (SeFa, GANSpace PCA, direction files and, for the demo
network, the world's attributes fitted with the shipped predictor).

Slider values are in units of sigma, the std of w along the direction (the convention of
``docs/benchmarks.md``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylegan2_core.errors import InputError
from stylegan2_core.latent import z_samples

from ..edits import (
    DirectionSet,
    fit_direction,
    labels_from_predictor,
    layer_ranges,
    load_directions,
    pca,
    save_directions,
    sefa,
    ws_resolutions,
)
from ..latent_file import model_provenance

__all__ = ["Direction", "StudioNetwork"]

_SIGMA_SAMPLES = 2000


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
        encoder: a ``projector.encoder.Encoder`` for ``G``: a dropped photo shows its instant inversion and
            projection starts from it (``projector.encoder.studio_encoders`` finds one per network).
    """

    def __init__(self, name: str, G, direction_files=(), world_samples: int = 1000, pca_samples: int = 10_000,
                 k: int = 8, cache_dir=None, encoder=None):
        if G.c_dim:
            raise InputError(f"{name}: conditional network ({G.c_dim} classes); the studio edits unconditional ones")
        self.name, self.G, self.encoder = name, G, encoder
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
        groups = layer_ranges(G.num_ws, ws_resolutions(G))
        return {"name": self.name, "resolution": G.img_resolution, "num_ws": G.num_ws, "w_dim": G.w_dim,
                "groups": self.groups(), "layer_groups": {k: v for k, v in groups.items() if v}}

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
        from ..world.predictor import default_predictor

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
        from ..losses import make_perceptual

        with self._distance_lock:
            if loss not in self._distances:
                self._distances[loss] = make_perceptual(loss, device=self.device)
            return self._distances[loss]

    def truncate(self, ws: torch.Tensor, psi: float) -> torch.Tensor:
        """Move ``ws`` toward the network's mean w (psi = 1: unchanged), as the mapping network's truncation."""
        return ws if psi == 1 else self._w_avg.to(ws).lerp(ws, psi)
