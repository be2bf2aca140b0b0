"""Tuned files: the update pivotal tuning leaves (``tuned.safetensors``), how latents refer to it, and
the state a stopped tuning leaves (``tune_resume.safetensors``).

A tuned file holds one update (``projector.tune``) and the base model it is for; a latent written by
``s2edit project --tune`` records it (``tuned: {file, sha256}``) so that edits render with it. A latent
may refer only to a file in its own folder, by the sha256 of that file. ``tune_resumable`` keeps each
photo's pivot and tuning progress in its folder so that a stopped ``s2edit project --tune`` continues.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from stylegan2_core import InputError
from stylegan2_core.errors import CheckpointError, Interrupted
from stylegan2_core.fileio import read_safetensors, safetensors_metadata, sha256_file, write_safetensors

from .latent_file import load_latent, model_provenance
from .project import ProjectionResult
from .tune import TuneConfig, TuneInterrupted, TuneResult, TuneState, apply_update, check_update, tune

__all__ = ["TUNED_FILE", "TUNED_KIND", "FORMAT_VERSION", "TUNE_STATE_FILE", "model_sha256", "save_tuned", "read_tuned",
           "load_tuned", "recorded_tuned_file", "tuned_generator", "save_tune_state", "load_tune_state",
           "ResumedTuning", "resumed_tuning", "tune_resumable"]

TUNED_KIND = "tuned"
TUNED_FILE = "tuned.safetensors"  # its name next to a projection's outputs
FORMAT_VERSION = 1
TUNE_STATE_KIND = "tune-state"
TUNE_STATE_FILE = "tune_resume.safetensors"  # a stopped tuning's pivot and state, next to the photo's outputs
_SHA256 = re.compile(r"[0-9a-f]{64}")


def model_sha256(G) -> str:
    """The base model's file sha256 (``G.checkpoint.sha256``), else its content identity."""
    provenance = model_provenance(G)
    return provenance["model_sha256"] or provenance["model_id"]


def save_tuned(path, G, update: dict[str, torch.Tensor], cfg: TuneConfig | None = None,
               meta: dict | None = None) -> Path:
    """Write ``update`` as ``tuned.safetensors``-style file, atomically, with the base model's sha256."""
    check_update(G, update, str(path))
    info = {"kind": TUNED_KIND, "format_version": FORMAT_VERSION, "model_sha256": model_sha256(G),
            "model_id": model_provenance(G)["model_id"],
            "update": "lora" if any(k.endswith(".lora_a") for k in update) else "full",
            "config": cfg.to_dict() if cfg is not None else None, **(meta or {})}
    return write_safetensors(path, update, info)


def read_tuned(path) -> tuple[dict[str, torch.Tensor], dict]:
    """The update and metadata of a tuned file; one-line errors for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: tuned generator file not found")
    tensors, meta = read_safetensors(path)
    if not meta or meta.get("kind") != TUNED_KIND:
        raise InputError(f"{path}: not a tuned generator file (no kind 'tuned' in its metadata)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: tuned file format {meta.get('format_version')!r}, this version reads "
                         f"{FORMAT_VERSION}")
    return tensors, meta


def load_tuned(G, path, check_sha256: str | None = None):
    """``G`` with the update saved at ``path`` applied; refuses a file made for another base model.

    ``check_sha256``: optional expected sha256 of the file itself (as recorded in a latent file).
    """
    path = Path(path)
    tensors, meta = read_tuned(path)
    if check_sha256 is not None and sha256_file(path) != check_sha256:
        raise InputError(f"{path}: tuned file changed since the latent was written (sha256 mismatch)")
    key = "model_id" if meta.get("model_id") else "model_sha256"  # by content when recorded, else by file
    expected = model_provenance(G)["model_id"] if key == "model_id" else model_sha256(G)
    if meta.get(key) != expected:
        raise InputError(f"{path}: tuned for another model ({key} {str(meta.get(key))[:12]}), "
                         f"not this network ({expected[:12]})")
    return apply_update(G, {k: v.float() for k, v in tensors.items()}, where=str(path))


def recorded_tuned_file(latent_path) -> tuple[Path, str] | None:
    """The tuned file a latent file records and its sha256, or None when it records none.

    The reference must name a file inside the latent's own folder (no absolute path, no ``..``
    out of it, no symlink leading out of it) and carry the file's sha256; anything else is refused,
    so a latent from elsewhere cannot make a command read files it was not given.
    """
    latent_path = Path(latent_path)
    entry = safetensors_metadata(latent_path).get("tuned")
    if not entry:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
        raise InputError(f"{latent_path}: unreadable 'tuned' entry in its metadata")
    sha256 = entry.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InputError(f"{latent_path}: its 'tuned' entry has no sha256 of the tuned file")
    folder = latent_path.parent.resolve()
    path = latent_path.parent / entry["file"]
    if Path(entry["file"]).is_absolute() or not path.resolve().is_relative_to(folder):
        raise InputError(f"{latent_path}: its tuned file {entry['file']!r} is outside the latent's folder")
    return path, sha256


def _check_renders(tuned, latent_path, path: Path) -> None:
    """The tuned generator draws the latent it was recorded with as finite pixels (a finite but huge
    update draws NaN or inf, which images show as black)."""
    record = load_latent(latent_path, tuned)
    with torch.no_grad():
        images = tuned.synthesis(record.ws[:1], noise=[m[:1] for m in record.noise] if record.noise else None,
                                 noise_mode="const")
    if not torch.isfinite(images).all():
        raise InputError(f"{path}: the tuned generator draws NaN or inf (its update is far out of range)")


def tuned_generator(G, sources) -> tuple[object, str | None]:
    """The generator to render ``sources`` (latent files or seeds) with, and a one-line note.

    When latent files record a tuned generator (``s2edit project --tune``), ``G`` with that
    update applied; latents tuned separately cannot share one render and are refused, and so is an
    update under which the recorded latent renders as NaN or inf.
    """
    found = {}
    for source in sources:
        entry = recorded_tuned_file(source)
        if entry is not None:
            found.setdefault(entry[1], (entry, source))  # by sha256: one tuned file under several names is one
    if not found:
        return G, None
    if len(found) > 1:
        (_, a), (_, b) = list(found.values())[:2]
        raise InputError(f"{a} and {b} were tuned separately and cannot be rendered by one generator: use them "
                         "one at a time, tune them together (--tune-shared) or pass --no-tuned")
    (path, sha256), source = next(iter(found.values()))
    tuned = load_tuned(G, path, check_sha256=sha256)
    _check_renders(tuned, source, path)
    return tuned, f"using the tuned generator {path} recorded in {source}"


# --------------------------------------------------------------------------- stopped tunings


def save_tune_state(path, state: TuneState, pivot: ProjectionResult, meta: dict | None = None) -> Path:
    """Write one photo's stopped tuning, atomically: its one-update ``state`` and the one-image projection
    ``pivot`` it tunes around (so that a resume needs no projection). ``meta`` (JSON) is stored beside them."""
    (update,), (moments,), (rng,), (stopped,) = state.updates, state.moments, state.rng, state.stopped
    tensors = {"pivot.ws": pivot.ws, "pivot.images": pivot.images, "pivot.distance": pivot.distance.reshape(-1),
               "rng": rng, **{f"pivot.noise.{i}": m for i, m in enumerate(pivot.noise)},
               **{f"update.{k}": v for k, v in update.items()}}
    for key, (exp_avg, exp_avg_sq) in moments.items():
        tensors[f"adam.{key}.exp_avg"], tensors[f"adam.{key}.exp_avg_sq"] = exp_avg, exp_avg_sq
    info = {"kind": TUNE_STATE_KIND, "format_version": FORMAT_VERSION, "step": state.step,
            "num_steps": state.num_steps, "adam_step": state.adam_step, "stopped": stopped, "history": state.history,
            "seconds": state.seconds, "noise_maps": len(pivot.noise),
            "pivot": {"loss_name": pivot.loss_name, "steps": pivot.steps, "seconds": pivot.seconds,
                      "device": pivot.device}, **(meta or {})}
    return write_safetensors(path, tensors, info)


def load_tune_state(path) -> tuple[TuneState, ProjectionResult, dict]:
    """(one-update ``TuneState``, one-image pivot, metadata) from ``save_tune_state``'s file; ``InputError``
    naming the file when it is unreadable, foreign, incomplete or not finite."""
    path = Path(path)
    try:
        tensors, meta = read_safetensors(path)
    except CheckpointError as err:
        raise InputError(str(err).replace("corrupt safetensors file", "unreadable tuning state")) from None
    if not meta or meta.get("kind") != TUNE_STATE_KIND or meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: not a tuning state written by this version of s2edit project --tune")
    try:
        update = {k.removeprefix("update."): v for k, v in tensors.items() if k.startswith("update.")}
        moments = {k: (tensors[f"adam.{k}.exp_avg"], tensors[f"adam.{k}.exp_avg_sq"]) for k in update
                   if f"adam.{k}.exp_avg" in tensors}
        state = TuneState(step=int(meta["step"]), num_steps=int(meta["num_steps"]), updates=[update],
                          moments=[moments], adam_step=float(meta["adam_step"]), rng=[tensors["rng"]],
                          stopped=[None if meta["stopped"] is None else int(meta["stopped"])],
                          history=[float(x) for x in meta["history"]], seconds=float(meta["seconds"]))
        info = meta["pivot"]
        pivot = ProjectionResult(ws=tensors["pivot.ws"], images=tensors["pivot.images"],
                                 noise=[tensors[f"pivot.noise.{i}"] for i in range(int(meta["noise_maps"]))],
                                 distance=tensors["pivot.distance"], loss_name=str(info["loss_name"]),
                                 steps=int(info["steps"]), seconds=float(info["seconds"]), device=str(info["device"]))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: incomplete tuning state ({err})") from None
    values = [*update.values(), *(t for pair in moments.values() for t in pair), pivot.ws, *pivot.noise]
    if not all(torch.isfinite(t).all() for t in values):
        raise InputError(f"{path}: tuning state contains NaN or inf")
    return state, pivot, meta


@dataclass(frozen=True)
class ResumedTuning:
    """A stopped tuning of a batch of photos: their pivots (one ``ProjectionResult``) and its ``TuneState``."""

    pivot: ProjectionResult
    state: TuneState


def resumed_tuning(folders: Sequence[Path], cfg: TuneConfig, device=None) -> ResumedTuning | None:
    """The stopped tuning of the photos whose outputs go to ``folders`` (tuned together), or None when
    none of them has one; refuses states for other settings, or for only some of the photos."""
    paths = [Path(folder) / TUNE_STATE_FILE for folder in folders]
    saved = [path for path in paths if path.is_file()]
    if not saved:
        return None
    if len(saved) < len(paths):
        missing = next(path for path in paths if not path.is_file())
        raise InputError(f"{saved[0]}: this photo's tuning stopped, {missing.parent.name}'s (tuned with it) has no "
                         "saved state; remove the stopped state or resume the photos as they were tuned")
    loaded = [load_tune_state(path) for path in paths]
    for path, (_, _, meta) in zip(paths, loaded):
        if meta.get("config") != cfg.to_dict():
            raise InputError(f"{path}: saved by a tuning with other settings; rerun with the same --tune options")
    states = [state for state, _, _ in loaded]
    pivots = [pivot for _, pivot, _ in loaded]
    pivot = replace(pivots[0], ws=_cat([p.ws for p in pivots], device),
                    noise=[_cat(maps, device) for maps in zip(*(p.noise for p in pivots))],
                    images=_cat([p.images for p in pivots], device), distance=_cat([p.distance for p in pivots], device))
    return ResumedTuning(pivot, states[0] if cfg.shared else TuneState.stack(states))


def _cat(tensors, device) -> torch.Tensor:
    return torch.cat(list(tensors)).to(device)


def tune_resumable(G, target: torch.Tensor, pivot: ProjectionResult, cfg: TuneConfig, folders: Sequence[Path], *,
                   state: TuneState | None = None, superseded: Sequence[Path] = (), seed: int = 0, should_stop=None,
                   **kwargs) -> TuneResult:
    """``projector.tune.tune`` of the photos ``target`` around ``pivot`` that survives a stop.

    Photo ``i``'s pivot and tuning state go to ``folders[i]/tune_resume.safetensors``: before the first
    step (unless ``state`` continues a stopped tuning, see ``resumed_tuning``), then the ``superseded``
    files (the projection's resumable states) are removed; and when ``should_stop()`` stops the tuning,
    which then raises ``Interrupted`` saying so. ``kwargs`` are ``tune``'s. The state files stay until the
    caller has written the photos' outputs (``projector.batch.project_files`` removes them then).
    """
    folders = [Path(folder) for folder in folders]
    if state is None:
        state = TuneState.start(G, cfg, len(folders), seed)
        _save_states(folders, state, pivot, cfg)
    for path in superseded:
        Path(path).unlink(missing_ok=True)
    try:
        return tune(G, target, pivot.ws, cfg, noise=pivot.noise, state=state, should_stop=should_stop, **kwargs)
    except TuneInterrupted as stop:
        _save_states(folders, stop.state, pivot, cfg)
        raise Interrupted(f"tuning stopped before step {stop.state.step} of {cfg.steps}; the pivot and tuning state "
                          f"of {', '.join(folder.name for folder in folders)} are saved in "
                          f"<outdir>/<name>/{TUNE_STATE_FILE}: rerun the same command with --resume to continue"
                          ) from None


def _save_states(folders: list[Path], state: TuneState, pivot: ProjectionResult, cfg: TuneConfig) -> None:
    """Each photo's share of ``state`` (the whole of a shared one) and of ``pivot``, in its folder."""
    for i, folder in enumerate(folders):
        share = state if len(state.updates) == 1 else state.update(i)
        row = replace(pivot, ws=pivot.ws[i:i + 1], noise=[m[i:i + 1] for m in pivot.noise],
                      images=pivot.images[i:i + 1], distance=pivot.distance[i:i + 1], history=[])
        save_tune_state(folder / TUNE_STATE_FILE, share, row, meta={"config": cfg.to_dict()})
