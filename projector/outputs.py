"""Writing a command's outputs: the folder lock, output names, the no-overwrite check, the output manifest,
one projection's results.

A run holds its output folder (``hold_outdir``), so two runs never write into one folder at once.
Names derived from input files (a photo's folder ``<outdir>/<stem>``) are checked to stay inside the
output folder (``photo_folder``). Every output folder holds a manifest (``s2edit-outputs.json``)
listing, per command, the files that command wrote there. With ``--force`` a command replaces its
own output set as a whole: the files its previous run listed that the new run did not write are
removed (``record_outputs``). Files that no manifest lists are never deleted.
"""

import contextlib
import json
import logging
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import torch

from stylegan2_core.errors import InputError
from stylegan2_core.fileio import atomic_write

from .images import Preprocessing, save_image
from .latent_file import model_provenance, save_latent, save_projected_w_npz
from .metrics.image_quality import psnr, ssim
from .project import ProjectionResult, ProjectorConfig

__all__ = ["OUTPUT_FILES", "MANIFEST_NAME", "LOCK_NAME", "check_outputs", "output_name", "photo_folder",
           "photo_folders", "hold_outdir", "record_outputs", "projection_report", "write_projection"]

log = logging.getLogger(__name__)
OUTPUT_FILES = ("target.png", "proj.png", "projected_w.npz", "latent.safetensors", "report.json")
MANIFEST_NAME = "s2edit-outputs.json"
MANIFEST_VERSION = 1
LOCK_NAME = ".s2edit.lock"
_COMMAND_RE = re.compile(r"[a-z][a-z0-9_-]*")
_SEPARATORS = ("/", "\\", "\0")


def check_outputs(paths, force: bool = False) -> list[Path]:
    """The one no-overwrite check, run before any work: refuse existing outputs unless ``force``,
    and make sure every output's folder exists (created here) and is writable.

    Raises ``InputError`` naming the first problem: an existing file (a symlink too, even a dangling
    one) without ``force``, an output that is a folder, a parent that is a file, or a folder that
    cannot be written.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_dir():
            raise InputError(f"{path}: is a folder, expected a file path for an output")
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]} already exists{more}; pass --force to overwrite")
    for parent in sorted({p.parent for p in paths}):
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"{parent}: exists and is not a folder; outputs cannot go there") from None
        except OSError as err:
            raise InputError(f"{parent}: cannot create the output folder ({err.strerror or err})") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{parent}: output folder is not writable") from None
    return paths


def output_name(name: str, source) -> str:
    """``name`` (derived from the input ``source``, e.g. a photo's stem) checked as one plain name inside an
    output folder: not empty, not made of dots only (``..`` climbs out), no path separator or NUL."""
    if not name.strip(". ") or any(ch in name for ch in _SEPARATORS) or len(os.fsencode(name)) > 255:
        raise InputError(f"{source}: the name {name!r} cannot name an output inside the output folder; "
                         "rename the file")
    return name


def photo_folder(outdir, photo) -> Path:
    """``<outdir>/<stem>``, the folder of one photo's outputs, refused (``InputError``) when the stem is no
    plain name (``output_name``) or the folder resolves outside ``outdir`` (through a symlink)."""
    outdir, photo = Path(outdir), Path(photo)
    folder = outdir / output_name(photo.stem, photo)
    if outdir.resolve() not in folder.resolve().parents:
        raise InputError(f"{folder}: leads outside the output folder {outdir} (to {folder.resolve()}); "
                         "outputs stay inside it")
    return folder


def photo_folders(photos, outdir) -> list[Path]:
    """``photo_folder`` of each photo, refusing two photos whose outputs would land in one folder."""
    folders = [photo_folder(outdir, p) for p in photos]
    seen: dict[Path, Path] = {}
    for photo, folder in zip(map(Path, photos), folders):
        other = seen.setdefault(folder.resolve(), photo)
        if other != photo:
            raise InputError(f"{other} and {photo} would both write into {folder}; rename one")
    return folders


@contextlib.contextmanager
def hold_outdir(outdir, command: str, rank=None):
    """Hold ``outdir`` for one run of ``command``: a second run into it is refused while this one works.

    The hold is the file ``<outdir>/LOCK_NAME`` (created with ``O_EXCL``; it names the pid, host and
    command), removed when the block ends, Ctrl-C and SIGTERM (which the CLI turns into Ctrl-C)
    included. A lock left by a process that no longer runs on this host is taken over. Take the
    hold before checking the outputs (``check_outputs``), so two runs cannot both pass the check.
    ``rank`` (``projector.distributed.Rank``): under ``torchrun`` rank 0 takes the hold for the
    whole job and every rank raises the same ``InputError`` when it is refused.
    """
    outdir = Path(outdir)
    main = rank is None or rank.is_main
    created = main and not outdir.exists()
    lock, error = None, None
    if main:
        try:
            lock = _take_lock(outdir, command)
        except InputError as err:
            error = str(err)
    if rank is not None and rank.world_size > 1:
        error = _broadcast_from_main(error)
    try:
        if error:
            raise InputError(error)
        yield lock
    finally:
        if lock is not None:
            lock.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                outdir.rmdir()  # a refused or empty run leaves no empty folder behind


def _take_lock(outdir: Path, command: str) -> Path:
    """Create ``outdir``'s lock file for this process, taking over a stale one; ``InputError`` when it is held."""
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder; outputs cannot go there")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{outdir}: cannot create the output folder ({err.strerror or err})") from None
    lock = outdir / LOCK_NAME
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            found = _read_lock(lock)
            if not _is_stale(found):
                raise InputError(_held_message(outdir, lock, found)) from None
            _remove_stale_lock(outdir, lock, found)
            continue
        except OSError as err:
            raise InputError(f"{outdir}: output folder is not writable ({err.strerror or err})") from None
        with os.fdopen(fd, "w") as f:
            json.dump(holder, f)
        return lock
    raise InputError(_held_message(outdir, lock, _read_lock(lock)))


def _read_lock(lock: Path) -> dict | None:
    """The holder a lock file names; None when it is gone or unreadable."""
    try:
        found = json.loads(lock.read_text())
        return found if isinstance(found, dict) else None
    except (OSError, ValueError):
        return None


def _is_stale(holder: dict | None) -> bool:
    """Whether a lock's holder is a process of this host that no longer runs (another host's is never stale)."""
    if holder is None or holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it runs, under another user
    return False


def _remove_stale_lock(outdir: Path, lock: Path, holder: dict) -> None:
    """Remove ``lock`` if it still names ``holder``: under an exclusive ``flock`` on the folder, so two runs
    taking over one stale lock cannot remove each other's new lock."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a narrower race, the check and the removal back to back
        fcntl = None
    fd = os.open(outdir, os.O_RDONLY) if fcntl is not None else None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _read_lock(lock) == holder:
            lock.unlink(missing_ok=True)
            log.info("%s: took over the lock of pid %s, which no longer runs", outdir, holder["pid"])
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock


def _held_message(outdir: Path, lock: Path, holder: dict | None) -> str:
    if holder is None:
        return f"{outdir}: in use by another run ({lock} exists); remove that file if no run writes there"
    return (f"{outdir}: in use by another run ({holder.get('command')} pid {holder.get('pid')} on "
            f"{holder.get('host')}); wait for it, or remove {lock} if that run is gone")


def _broadcast_from_main(message: str | None) -> str | None:
    """Rank 0's ``message`` on every rank of the ``torchrun`` job."""
    import torch.distributed

    box = [message]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _read_manifest(folder: Path) -> dict[str, list[str]]:
    """``{command: [file names]}`` from ``folder``'s manifest; empty when there is none or it is unreadable."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
        return {cmd: [n for n in names if isinstance(n, str)]
                for cmd, names in data["outputs"].items() if isinstance(names, list)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _own_file(folder: Path, name: str) -> Path | None:
    """``folder / name`` when ``name`` is a plain file name in ``folder`` (never a path elsewhere), else None."""
    if not name or name in (".", "..", MANIFEST_NAME) or Path(name).name != name:
        return None
    path = folder / name
    return path if path.is_file() and not path.is_symlink() else None


def record_outputs(command: str, written: Iterable, force: bool = False) -> list[Path]:
    """List ``written`` as ``command``'s outputs in each of their folders' manifest; returns the files removed.

    With ``force`` the new files replace the command's previous output set in that folder: files the
    previous manifest listed for ``command`` that this run did not write are deleted (after the new
    outputs exist). Without ``force`` the set grows (earlier outputs were kept, so they stay listed).
    Other commands' entries and unlisted files are left alone. Call it after the outputs are written.
    """
    if not _COMMAND_RE.fullmatch(command):
        raise InputError(f"bad command name for the output manifest: {command!r}")
    folders: dict[Path, set[str]] = {}
    for path in map(Path, written):
        folders.setdefault(path.parent, set()).add(path.name)
    removed = []
    for folder, names in folders.items():
        manifest = _read_manifest(folder)
        previous = [n for n in manifest.get(command, []) if _own_file(folder, n) is not None and n not in names]
        if force:
            for name in previous:
                path = folder / name
                path.unlink()
                removed.append(path)
                log.info("%s: removed (an output of the previous %s run)", path, command)
        manifest[command] = sorted(names) if force else sorted(names.union(previous))
        text = json.dumps({"format_version": MANIFEST_VERSION, "outputs": manifest}, indent=2) + "\n"
        atomic_write(folder / MANIFEST_NAME, lambda tmp, text=text: Path(tmp).write_text(text))
    return removed


def projection_report(result: ProjectionResult, i: int, target: torch.Tensor, cfg: ProjectorConfig) -> dict:
    """Final agreement between image ``i`` of the projection and its target."""
    img = result.images[i:i + 1].clamp(-1, 1)
    tgt = target[i:i + 1].to(img.device)
    return {
        "perceptual_distance": float(result.distance[i]),
        "loss": result.loss_name,
        "psnr_db": float(psnr(img, tgt)[0]),
        "ssim": float(ssim(img, tgt)[0]),
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "device": result.device,
        "space": cfg.space,
        "noise": ("optimize" if cfg.optimize_noise else "fixed") if result.noise else "none",  # none: StyleGAN3
        "seed": cfg.seed + i,
    }


def _write_tuned(outdir: Path, G, tuned, i: int) -> tuple[dict, dict]:
    """Write image ``i``'s tuned update; returns (latent metadata entry, report entry)."""
    from stylegan2_core.fileio import sha256_file

    from .tuned_file import TUNED_FILE, save_tuned

    path = save_tuned(outdir / TUNED_FILE, G, tuned.updates[i], tuned.config)
    cfg = tuned.config
    report = {"perceptual_distance": float(tuned.distance[i]), "psnr_db": float(tuned.psnr[i]),
              "ssim": float(tuned.ssim[i]), "steps": tuned.steps[0 if cfg.shared else i],
              "seconds": round(tuned.seconds, 3), "update": cfg.update, "locality": cfg.locality,
              "shared": cfg.shared, "file": TUNED_FILE}
    return {"file": TUNED_FILE, "sha256": sha256_file(path)}, report


def write_projection(outdir, result: ProjectionResult, i: int, target: torch.Tensor, G, cfg: ProjectorConfig,
                     preprocessing: Preprocessing, source: str, extra_report: dict | None = None,
                     extra_meta: dict | None = None, tuned=None) -> dict:
    """Write ``OUTPUT_FILES`` for image ``i`` into ``outdir``; returns the report.

    ``extra_meta`` goes into the latent's metadata too (e.g. the face alignment behind the target).
    ``tuned``: a ``projector.tune.TuneResult`` for the batch: then ``tuned.safetensors`` is written
    too, the latent records it, ``proj.png`` is the tuned render and the report gains a ``tuned``
    block (the top-level figures stay the pivot's).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ws = result.ws[i:i + 1]
    noise = [m[i:i + 1] for m in result.noise]
    report = {**projection_report(result, i, target, cfg), **(extra_report or {})}
    tuned_meta = None
    if tuned is not None:
        tuned_meta, report["tuned"] = _write_tuned(outdir, G, tuned, i)
    save_image(outdir / "target.png", target[i])
    save_image(outdir / "proj.png", result.images[i] if tuned is None else tuned.images[i])
    save_projected_w_npz(outdir / "projected_w.npz", ws)
    checkpoint = getattr(G, "checkpoint", None)
    save_latent(outdir / "latent.safetensors", ws, noise, meta={
        "space": cfg.space,
        "noise": report["noise"],
        **model_provenance(G),
        "model_path": checkpoint.path if checkpoint else None,
        "resolution": G.img_resolution,
        "preprocessing": asdict(preprocessing),
        "loss": result.loss_name,
        "source": source,
        "projector": asdict(cfg),
        **(extra_meta or {}),
        **({"tuned": tuned_meta} if tuned_meta else {}),
    })
    atomic_write(outdir / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
    return report
