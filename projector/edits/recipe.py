"""Several edits at once, optionally conditioned: ``EditRecipe`` lists applied to ws (``s2edit edit --add/--keep``).

    edits = [EditRecipe("smile.npz", 2.0), EditRecipe("ffhq_pca.pt", -1.5, index=1, layers=[0, 1, 2, 3])]
    ws = apply_edits(G, ws, edits, keep=["hair_color.npz"])

Each edit adds ``strength · direction`` (a unit direction: strength is a distance in W, or in Z for
Z directions) to its layers. ``keep``: every applied direction is first made orthogonal to the span of
the kept directions of its space and renormalized (``orthogonalize``, InterFaceGAN's conditional
manipulation), so the edits leave the kept attributes where they were. Z directions move the seeds' z
before the mapping network; a projected latent has no z, so they are refused there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from stylegan2_core.errors import InputError
from stylegan2_core.latent import class_labels

from .direction_file import DirectionSet, apply_direction, check_directions, load_directions, orthogonalize, split_spec

__all__ = ["EditRecipe", "ResolvedEdit", "parse_edit", "load_kept", "resolve_edits", "apply_edits", "source_edits"]


@dataclass
class EditRecipe:
    """One edit: ``strength`` x direction ``index`` of the file ``direction``, on ws ``layers``.

    ``layers``: None = the file's own layers, else all; ``space``: ``w`` / ``z`` to override what the
    file says (``published.name_space``).
    """

    direction: str
    strength: float
    index: int = 0
    layers: list[int] | None = None
    space: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready, as recorded in an edited latent's metadata."""
        return {**asdict(self), "direction": str(self.direction)}


@dataclass
class ResolvedEdit:
    """An ``EditRecipe`` loaded and checked against a network: its unit ``vector`` ([w_dim], per-layer
    [num_ws, w_dim], or [z_dim] in Z), the direction's ``name``, its ``space``, the ``layers`` it edits
    (None = all) and the kept directions it was made orthogonal to (``conditioned_on``)."""

    recipe: EditRecipe
    vector: torch.Tensor
    name: str
    space: str
    layers: list[int] | None
    conditioned_on: tuple[str, ...] = ()

    @property
    def strength(self) -> float:
        return self.recipe.strength

    def with_strength(self, strength: float) -> ResolvedEdit:
        """The same edit at another strength (a sweep's points)."""
        return replace(self, recipe=replace(self.recipe, strength=float(strength)))

    def record(self) -> dict:
        """What an edited latent's metadata keeps of this edit (``latent_file.EDITS_KEY``)."""
        return {**self.recipe.to_dict(), "name": self.name, "space": self.space, "layers": self.layers,
                "conditioned_on": list(self.conditioned_on)}


def parse_edit(text: str, num_ws: int, resolutions: list[float] | None = None) -> EditRecipe:
    """``FILE[:INDEX]=STRENGTH[@LAYERS]`` (``--add``) -> ``EditRecipe``; LAYERS as ``parse_layers`` reads them
    (groups by ``resolutions``, ``ws_resolutions(G)``)."""
    from .mixing import parse_layers
    from .render import parse_strengths

    spec, sep, rest = str(text).rpartition("=")
    if not sep or not spec:
        raise InputError(f"bad --add {text!r}: expected FILE[:INDEX]=STRENGTH[@LAYERS], e.g. smile.npz:0=2@0-5")
    strength, _, layers = rest.partition("@")
    try:
        values = parse_strengths(strength.strip()) if strength.strip() and ":" not in strength else []
    except InputError:
        values = []
    if len(values) != 1:
        raise InputError(f"bad --add {text!r}: STRENGTH must be one finite number (the swept --strength takes "
                         f"lists)")
    path, index = split_spec(spec)
    return EditRecipe(path, values[0], index or 0, parse_layers(layers, num_ws, resolutions) if layers else None)


def _load(G, path, space: str | None, cache: dict) -> DirectionSet:
    key = (str(path), space)
    if key not in cache:
        ds = load_directions(path, G.num_ws, space)
        check_directions(ds, G, path)
        cache[key] = ds
    return cache[key]


def load_kept(G, specs, cache: dict | None = None) -> dict[str, tuple[torch.Tensor, tuple[str, ...]]]:
    """``--keep`` specs (``FILE`` = all its directions, ``FILE:INDEX`` = one) -> {space: (directions, specs)}."""
    cache = {} if cache is None else cache
    kept: dict[str, tuple[list, list]] = {}
    for spec in map(str, specs):
        path, index = split_spec(spec)
        ds = _load(G, path, None, cache)
        if index is not None and index >= len(ds):
            raise InputError(f"--keep {spec}: index {index} out of range ({len(ds)} directions)")
        rows, names = kept.setdefault(ds.space, ([], []))
        rows.extend(ds.directions if index is None else ds.directions[index][None])
        names.append(spec)
    return {space: (_stack(rows, G.num_ws), tuple(names)) for space, (rows, names) in kept.items()}


def _stack(rows: list[torch.Tensor], num_ws: int) -> torch.Tensor:
    """Directions of mixed kinds as one tensor: plain ones repeated over the layers when any is per-layer."""
    if all(r.ndim == 1 for r in rows):
        return torch.stack(rows)
    return torch.stack([r.expand(num_ws, -1) if r.ndim == 1 else r for r in rows])


def resolve_edits(G, recipes, keep=(), *, cache: dict | None = None) -> list[ResolvedEdit]:
    """Load, check (``check_directions``) and condition each recipe's direction for ``G``.

    ``keep``: ``FILE[:INDEX]`` specs whose directions every edit of their space is made orthogonal to.
    Raises ``InputError`` naming the file for a direction that does not fit the network.
    """
    cache = {} if cache is None else cache
    kept = load_kept(G, keep, cache)
    resolved = []
    for recipe in recipes:
        ds = _load(G, recipe.direction, recipe.space, cache)
        if not 0 <= recipe.index < len(ds):
            raise InputError(f"{recipe.direction}: direction index {recipe.index} (--index, or FILE:INDEX) out of "
                             f"range: the file holds {len(ds)} directions")
        layers = recipe.layers if recipe.layers is not None else ds.layers
        if ds.space == "z" and layers is not None:
            raise InputError(f"{recipe.direction}: a Z direction moves z, which feeds every layer: drop the layers")
        vector = ds.directions[recipe.index]
        others, names = kept.get(ds.space, (None, ()))
        if others is not None:
            try:
                vector = orthogonalize(vector, others)
            except InputError:
                raise InputError(f"{recipe.direction}: direction {recipe.index} lies in the span of the kept "
                                 f"directions ({', '.join(names)}): keeping them leaves nothing to edit") from None
        resolved.append(ResolvedEdit(recipe, vector, ds.names[recipe.index], ds.space, layers, names))
    return resolved


def _map(G, z: torch.Tensor, truncation_psi: float, class_idx: int | None) -> torch.Tensor:
    c = class_labels(class_idx, G.c_dim, len(z)).to(z.device) if G.c_dim else None
    return G.mapping(z, c, truncation_psi=truncation_psi)


@torch.no_grad()
def apply_edits(G, ws: torch.Tensor, edits, keep=(), z: torch.Tensor | None = None, truncation_psi: float = 1.0,
                class_idx: int | None = None) -> torch.Tensor:
    """``ws`` [N, num_ws, w_dim] with every edit applied: ``EditRecipe``s (resolved here, conditioned on ``keep``)
    or ``ResolvedEdit``s (already conditioned).

    Z edits need ``z`` [N, z_dim], the latents' seeds' z: the moved z is mapped again (``truncation_psi``,
    ``class_idx``) and replaces ``ws``; W edits are then added (they commute). Returns a new tensor.
    """
    recipes = [e for e in edits if isinstance(e, EditRecipe)]
    resolved = iter(resolve_edits(G, recipes, keep) if recipes else [])
    edits = [next(resolved) if isinstance(e, EditRecipe) else e for e in edits]
    z_edits = [e for e in edits if e.space == "z"]
    if z_edits:
        if z is None:
            raise InputError(f"{z_edits[0].recipe.direction}: a Z direction edits seeds (z before the mapping "
                             f"network); a projected latent has no z: use a W direction")
        z = z.to(ws.device) + sum(e.strength * e.vector.to(ws.device) for e in z_edits)
        ws = _map(G, z, truncation_psi, class_idx)
    for e in edits:
        if e.space == "w":
            ws = apply_direction(ws, e.vector, e.strength, e.layers)
    return ws


def source_edits(latent) -> list[dict]:
    """The edits an edited latent file already records (``latent_file.EDITS_KEY``); [] for seeds and others."""
    from ..latent_file import EDITS_KEY, load_latent

    if not Path(str(latent)).is_file():
        return []
    recorded = load_latent(latent).meta.get(EDITS_KEY)
    return list(recorded) if isinstance(recorded, list) else []
