"""Inversion benchmark: W, W+ and pivotal tuning on off-world and in-world images, fidelity and editability.

Test sets: ``--offworld`` images from ``projector.world.offworld`` (world faces with headwear,
scars, stickers, eye patches, beards, noise+JPEG, photo blends; seeds from ``--seed``) and
``--inworld`` held-out generated images (z seeds 100 000 + i, constant noise). Methods: the W
projection (the pivot), the W+ projection (same step budget), and tuning around the W pivot
with each ``--variants`` entry (update representation, locality regularization on/off). With
``--encoder FILE`` (``s2edit train-encoder``) also the encoder's inversion alone (the ``instant``
preset) and the ``fast`` preset started from it.

Per set and method: PSNR, SSIM and perceptual distance against the target, seconds per image
(projections and tuning each run as one batch: batch seconds / N), and
editability: every supervised direction of the demo world (InterFaceGAN SVM in W on
``--dir-samples`` generated images scored by the shipped predictor) applied at ±2σ (σ: std of
w along the direction), measured with the predictor, in units of the world's label std:
(a) the target attribute's change from -2σ to +2σ relative to the same edit on the W
projection of the same images (summed over attributes; per-attribute ratios in the JSON),
(b) side effects: the mean absolute change of the other attributes over the same span, also per
unit of target movement (leakage: side effects / mean target change; W+ moves its target less,
so its absolute side effects are smaller for that reason alone).
(c) edit transfer, which no predictor misreading an occluded render can fool: per tuned image and
direction, the image change the tuned generator draws for the edit at -2σ and +2σ, projected on the
change the base generator draws for the same edit at the same pivot with the same noise
(``projector.metrics.edit_transfer``; 1: the whole edit carries over), and the cosine of the two;
means over the directions that work (their W edit moves the target >= WORKS world stds).
Also the AUC separating generated from off-world images by their W-projection distance.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_inversion.py --json inversion.json
    ... --variants lora "lora,rank=2,steps=150" lora+locality@3   # TuneConfig fields per variant
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from projector import ProjectorConfig, TuneConfig, project, tune
from projector.edits import apply_direction, fit_direction
from projector.encoder import load_encoder
from projector.losses import make_perceptual
from projector.metrics.edit_transfer import measure_edit_transfer
from projector.metrics.image_quality import psnr, ssim
from projector.world import ATTRIBUTE_NAMES, sample_labels
from projector.world.offworld import KINDS, offworld_set
from projector.world.predictor import default_predictor
from stylegan2_core import from_uint8, load_generator, w_statistics, z_from_seeds, z_samples
from stylegan2_core.fileio import read_safetensors, write_safetensors

INWORLD_SEED = 100_000
WORKS = 0.25  # a direction works when its -2σ..+2σ edit on the W projection moves its target this many world stds
VARIANTS = {
    "full": TuneConfig(update="full", locality=False),
    "lora": TuneConfig(update="lora", locality=False),
    "lora+locality": TuneConfig(update="lora", locality=True),
    "full+locality": TuneConfig(update="full", locality=True),
}


def _variant(spec: str) -> tuple[str, TuneConfig, dict]:
    """``NAME`` from VARIANTS, optionally ``@SCALE`` (lora_lr_scale) and ``,FIELD=VALUE`` TuneConfig overrides
    (``lora@10,rank=2,steps=100,locality=1``); returns the name, the config and the overrides."""
    head, *pairs = spec.split(",")
    name, _, scale = head.partition("@")
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; use one of {list(VARIANTS)}, optionally with @SCALE")
    cfg = VARIANTS[name]
    cfg = replace(cfg, lora_lr_scale=float(scale)) if scale else cfg
    types = {f.name: f.type for f in fields(TuneConfig)}
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types or not value:
            raise SystemExit(f"bad variant setting {pair!r} in {spec!r}; use FIELD=VALUE with a TuneConfig field")
        kind = types[key] if isinstance(types[key], str) else types[key].__name__
        overrides[key] = (bool(int(value)) if kind == "bool" else int(value) if kind == "int"
                          else value if kind == "str" else float(value))
    return name, cfg, overrides


def _log(t0: float, text: str) -> None:
    print(f"[{time.time() - t0:7.1f}s] {text}", flush=True)


@torch.no_grad()
def _directions(G, predictor, samples: int, batch: int = 100):
    """One SVM direction per attribute and its σ, from ``samples`` generated images scored by the predictor."""
    ws = G.mapping(z_samples(samples, G.z_dim, 1))
    labels = torch.cat([predictor.predict_labels(G.synthesis(w, noise_mode="const")) for w in ws.split(batch)])
    out = []
    for a, name in enumerate(ATTRIBUTE_NAMES):
        d = fit_direction(ws, labels[:, a], name=name).directions[0]
        out.append((d, float((ws[:, 0] @ d).std())))
    return out


@torch.no_grad()
def _edit_changes(G, predictor, ws, noise, directions, world_std) -> np.ndarray:
    """[A, A]: change of predicted attribute b (columns) when editing a (rows) from -2σ to +2σ, in world stds."""
    edited = torch.cat([apply_direction(ws, d, torch.tensor([-2 * s, 2 * s])) for d, s in directions])
    maps = [m.expand(len(edited), -1, -1, -1) for m in noise]
    pred = predictor.predict_labels(G.synthesis(edited, noise=maps)).numpy().reshape(len(directions), 2, -1)
    return (pred[:, 1] - pred[:, 0]) / world_std


def _transfers(tuned_G, G, ws, noise, directions) -> np.ndarray:
    """[A, 2]: edit transfer (projection, cosine) of each direction from -2σ to +2σ, both signs taken together."""
    return np.array([[float(v) for v in measure_edit_transfer(tuned_G, G, ws, d, [-2 * s, 2 * s], noise)]
                     for d, s in directions])


def _projection(G, targets, cfg: ProjectorConfig, distance, cache: Path | None):
    """``project``, or its result from ``cache`` when an earlier run with the same targets and settings saved it."""
    key = {"cfg": asdict(cfg), "targets": float(targets.double().sum()), "shape": list(targets.shape)}
    path = cache.with_name(f"{cache.stem}-{cfg.space}.safetensors") if cache else None
    if path is not None and path.exists():
        tensors, meta = read_safetensors(path)
        if meta == json.loads(json.dumps(key)):
            noise = [tensors[f"noise{i}"] for i in range(sum(k.startswith("noise") for k in tensors))]
            return SimpleNamespace(ws=tensors["ws"], noise=noise, images=tensors["images"],
                                   seconds=float(tensors["seconds"]))
    pr = project(G, targets, cfg, distance=distance, encoder=None)
    if path is not None:
        write_safetensors(path, {"ws": pr.ws, "images": pr.images, "seconds": torch.tensor(pr.seconds),
                                 **{f"noise{i}": m for i, m in enumerate(pr.noise)}}, key)
    return pr


def encoder_rows(G, targets, distance, encoder, methods: dict, measure, t0: float, tune_cfg: TuneConfig) -> None:
    """The encoder's rows: its inversion alone (preset ``instant``), the ``fast`` preset started from it, and
    tuning (``tune_cfg``) around the inversion as its pivot (``--tune --pivot encoder``)."""
    n = len(targets)
    for label, preset in (("encoder (instant)", "instant"), ("fast (encoder start)", "fast")):
        pr = project(G, targets, ProjectorConfig.preset(preset), distance=distance, encoder=encoder)
        methods[label] = {"images": pr.images, "seconds": np.full(n, pr.seconds / n), "generators": [G] * n,
                          "ws": pr.ws, "noise": pr.noise, "steps": [pr.steps] * n}
        measure(label)
        _log(t0, f"{label}: {pr.seconds:.1f}s for {n} images")
    pivot = methods["encoder (instant)"]
    res = tune(G, targets, pivot["ws"], tune_cfg, distance=distance, noise=pivot["noise"])
    label = f"tuned encoder pivot (lora, r={tune_cfg.rank}, lr x{tune_cfg.lora_lr_scale:g})"
    methods[label] = {**pivot, "images": res.images, "seconds": pivot["seconds"] + res.seconds / n,
                      "generators": res.generators, "steps": res.steps}
    measure(label)
    _log(t0, f"{label}: {res.seconds:.0f}s for {n} images, steps run {res.steps}")


def _merged_runs(runs: list[dict]) -> dict:
    """Per-image figures of several runs' partial JSON, concatenated image-wise, for the methods all runs have."""
    names = [k for k in runs[0] if all(k in run for run in runs)]
    return {k: {f: np.concatenate([np.asarray(run[k][f]) for run in runs]) for f in runs[0][k]
                if all(f in run[k] for run in runs)} for k in names}


def _auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """P(positive > negative), ties counted half (Mann-Whitney)."""
    diff = positives[:, None] - negatives[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _transfer_table(methods: dict, sl: slice, base_target: np.ndarray, rows: dict) -> None:
    """Print the edit transfer of each tuned method per direction (mean over the set's images) and add
    its means over the working directions (those whose W edit moves the target >= WORKS) to ``rows``."""
    tuned = {name: m["transfer"][sl].mean(0) for name, m in methods.items() if "transfer" in m}  # [A, 2]
    if not tuned:
        return
    works = base_target >= WORKS
    print(f"\nEdit transfer, ±2σ (projection of the tuned edit's image change on the base generator's / cosine; "
          f"working: the W edit moves its target >= {WORKS:g} world std):\n")
    print("| direction | W edit moves | " + " | ".join(tuned) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in tuned) + " |")
    for a, attribute in enumerate(ATTRIBUTE_NAMES):
        cells = " | ".join(f"{t[a, 0]:.2f} / {t[a, 1]:.2f}" for t in tuned.values())
        print(f"| {attribute}{'' if works[a] else ' (not working)'} | {base_target[a]:.2f} | {cells} |")
    for label, mask in ((f"**mean, {int(works.sum())} working**", works), ("mean, all", np.ones_like(works))):
        cells = " | ".join(f"{t[mask, 0].mean():.2f} / {t[mask, 1].mean():.2f}" for t in tuned.values())
        print(f"| {label} | | {cells} |")
    for name, t in tuned.items():
        rows[name].update(transfer=float(t[works, 0].mean()), transfer_cosine=float(t[works, 1].mean()),
                          transfer_per_direction=dict(zip(ATTRIBUTE_NAMES, t[:, 0].tolist())),
                          cosine_per_direction=dict(zip(ATTRIBUTE_NAMES, t[:, 1].tolist())),
                          working_directions=[a for a, w in zip(ATTRIBUTE_NAMES, works) if w])


def report(methods: dict, sets: dict, n: int, args) -> dict:
    """Print the tables, the AUC and the target checks; return them as a dict."""
    results = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {platform.processor() or ''}",
               "args": {k: str(v) for k, v in vars(args).items()}, "sets": {}}
    base = methods["W"]
    off_mask = np.zeros(n, bool)
    off_mask[sets["off-world"]] = True
    for set_name, sl in sets.items():
        if sl.start == sl.stop:
            continue
        print(f"\n**{set_name}** ({sl.stop - sl.start} images; pivot {args.pivot_steps} steps, tuning "
              f"{args.tune_steps} steps, early stop at {args.stop_text})\n")
        print("| method | PSNR dB | SSIM | perceptual | s/image (+ pivot) | steps run | edit: target moves (× W) | "
              "edit: side effects | leakage |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        base_target = np.diagonal(base["changes"][sl], axis1=1, axis2=2).mean(0)  # [A]
        rows = {}
        for name, m in methods.items():
            ch = m["changes"][sl]
            target_move = np.diagonal(ch, axis1=1, axis2=2).mean(0)
            ratio = float(target_move.sum() / base_target.sum())
            off_diag = ~np.eye(ch.shape[1], dtype=bool)
            side = float(np.abs(ch[:, off_diag]).mean())
            leakage = side / float(np.abs(target_move).mean())
            tuned = name.startswith("tuned")
            secs = float(m["seconds"][sl].mean())
            pivot_secs = float(base["seconds"][sl].mean())
            row = {"psnr": float(m["psnr"][sl].mean()), "ssim": float(m["ssim"][sl].mean()),
                       "perceptual": float(m["perceptual"][sl].mean()), "seconds": secs, "pivot_seconds": pivot_secs,
                       "steps": float(np.mean(m["steps"][sl])), "edit_ratio": ratio,
                       "edit_ratio_per_attribute": dict(zip(ATTRIBUTE_NAMES, (target_move / base_target).tolist())),
                       "side_effects": side, "leakage": leakage}
            rows[name] = row
            seconds_text = f"{secs:.1f} (+ {pivot_secs:.1f})" if tuned else f"{secs:.1f}"
            print(f"| {name} | {row['psnr']:.2f} | {row['ssim']:.3f} | {row['perceptual']:.4f} | {seconds_text} | "
                  f"{row['steps']:.0f} | {ratio:.2f} | {side:.3f} | {leakage:.3f} |")
        _transfer_table(methods, sl, base_target, rows)
        results["sets"][set_name] = rows
    if off_mask.any() and (~off_mask).any():
        auc = _auc(base["perceptual"][~off_mask], base["perceptual"][off_mask])
        results["auc_generated_vs_offworld"] = auc
        print(f"\nAUC separating generated from off-world images by W-projection distance: {auc:.3f} "
              f"({int((~off_mask).sum())} generated vs {int(off_mask.sum())} off-world)")
    if "off-world" in results["sets"]:
        rows = results["sets"]["off-world"]
        checks = []
        for name, row in rows.items():
            if not name.startswith("tuned"):
                continue
            others = [rows["W"], rows["W+"]]
            checks.append((name, {
                "PSNR >= W + 4 dB and >= W+ + 4 dB": row["psnr"] >= rows["W"]["psnr"] + 4
                and row["psnr"] >= rows["W+"]["psnr"] + 4,
                "perceptual below W and W+": all(row["perceptual"] <= r["perceptual"] for r in others),
                "edits move >= 0.6x W": row["edit_ratio"] >= 0.6,
                "edit transfer >= 0.8": row.get("transfer", 0) >= 0.8,
                "PSNR >= W + 8 dB": row["psnr"] >= rows["W"]["psnr"] + 8,
                "side effects <= W+": row["side_effects"] <= rows["W+"]["side_effects"],
                "leakage <= W+": row["leakage"] <= rows["W+"]["leakage"],
                "tuning time <= pivot time": row["seconds"] <= row["pivot_seconds"],
            }))
        print("\nTargets on the off-world set:\n")
        for name, c in checks:
            print(f"- {name}: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in c.items()))
        results["targets"] = dict(checks)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="demo")
    ap.add_argument("--offworld", type=int, default=6)
    ap.add_argument("--inworld", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="off-world set seed")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS), help="off-world kinds, cycled")
    ap.add_argument("--pivot-steps", type=int, default=450, help="W and W+ projection steps (PTI: 450)")
    ap.add_argument("--tune-steps", type=int, default=350, help="PTI: 350")
    ap.add_argument("--rank", type=int, default=TuneConfig.rank, help="rank of the lora variants (TuneConfig's)")
    ap.add_argument("--stop-distance", type=float, default=None,
                    help="tuning's early stop (default: TuneConfig's, PTI's 0.06 with LPIPS; 0: run every step)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS),
                    help=f"tuning variants: {list(VARIANTS)}, each optionally NAME@SCALE (lora_lr_scale)")
    ap.add_argument("--dir-samples", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument("--pivot-cache", type=Path, default=None,
                    help="keep the W and W+ projections in PATH-w/-w+.safetensors and reuse them on a rerun")
    ap.add_argument("--encoder", type=Path, default=None,
                    help="an encoder for the network: adds the instant preset and the encoder-started fast preset")
    ap.add_argument("--report-from", type=Path, nargs="+", default=None,
                    help="print the tables from runs' .partial.json files instead of running: their images in order "
                         "(--offworld/--inworld: the total), the methods every file has")
    args = ap.parse_args()
    if args.report_from:
        args.stop_text = "the run's" if args.stop_distance is None else f"{args.stop_distance:g}"
        methods = _merged_runs([json.loads(path.read_text()) for path in args.report_from])
        n = args.offworld + args.inworld
        report(methods, {"off-world": slice(0, args.offworld), "in-world": slice(args.offworld, n)}, n, args)
        return
    torch.set_num_threads(args.threads)
    t0 = time.time()

    G = load_generator(args.network)
    predictor = default_predictor()
    distance, _ = make_perceptual("auto")
    args.stop_text = f"{TuneConfig(stop_distance=args.stop_distance).stop_for(distance):g}"
    R = G.img_resolution
    world_std = np.array([[sample_labels(s)[n] for n in ATTRIBUTE_NAMES] for s in range(2000)]).std(0)
    directions = _directions(G, predictor, args.dir_samples)
    _log(t0, f"directions fitted ({args.dir_samples} samples, perceptual distance {distance.name})")

    off = offworld_set(args.offworld, seed=args.seed, size=R, kinds=tuple(args.kinds))
    with torch.no_grad():
        seeds = range(INWORLD_SEED, INWORLD_SEED + args.inworld)
        inworld = G.synthesis(G.mapping(z_from_seeds(seeds, G.z_dim)), noise_mode="const") if seeds \
            else torch.zeros(0, G.img_channels, R, R)
    targets = torch.cat([from_uint8(np.stack([x.image for x in off])), inworld]) if off else inworld
    sets = {"off-world": slice(0, len(off)), "in-world": slice(len(off), len(targets))}
    n = len(targets)

    w_statistics(G, ProjectorConfig.w_avg_samples, ProjectorConfig.w_avg_seed)  # cached: not billed to W alone
    methods = {}  # name -> dict(images, seconds per image, generators, ws, noise) and its figures

    @torch.no_grad()
    def measure(name):
        m = methods[name]
        m["psnr"] = psnr(m["images"], targets).numpy()
        m["ssim"] = ssim(m["images"], targets).numpy()
        m["perceptual"] = distance(m["images"], targets).numpy()
        m["changes"] = np.stack([_edit_changes(m["generators"][i], predictor, m["ws"][i:i + 1],
                                               [x[i:i + 1] for x in m["noise"]], directions, world_std)
                                 for i in range(n)])  # [n, A, A]
        if any(g is not G for g in m["generators"]):
            m["transfer"] = np.stack([_transfers(m["generators"][i], G, m["ws"][i:i + 1],
                                                 [x[i:i + 1] for x in m["noise"]], directions)
                                      for i in range(n)])  # [n, A, 2]
        if args.json:  # per-image figures so far, in case the run is cut short
            keep = ("psnr", "ssim", "perceptual", "seconds", "steps", "changes", "transfer")
            partial = {k: {f: np.asarray(v[f]).tolist() for f in keep if f in v}
                       for k, v in methods.items() if "changes" in v}
            args.json.with_suffix(".partial.json").write_text(json.dumps(partial))
        _log(t0, f"{name}: figures and edits measured")

    pivots = {}
    for space in ("w", "w+"):
        pr = _projection(G, targets, ProjectorConfig(steps=args.pivot_steps, space=space), distance, args.pivot_cache)
        pivots[space] = pr
        methods[space.upper()] = {"images": pr.images, "seconds": np.full(n, pr.seconds / n), "generators": [G] * n,
                                      "ws": pr.ws, "noise": pr.noise, "steps": [args.pivot_steps] * n}
        measure(space.upper())
        _log(t0, f"{space} projection: {pr.seconds:.0f}s for {n} images")
    if args.encoder:
        tune_cfg = TuneConfig(steps=args.tune_steps, rank=args.rank, stop_distance=args.stop_distance)
        encoder_rows(G, targets, distance, load_encoder(args.encoder, G), methods, measure, t0, tune_cfg)
    pivot = pivots["w"]
    for spec in args.variants:
        variant, cfg, overrides = _variant(spec)
        cfg = replace(cfg, **{"steps": args.tune_steps, "rank": args.rank, "stop_distance": args.stop_distance,
                              **overrides})
        res = tune(G, targets, pivot.ws, cfg, distance=distance, noise=pivot.noise)  # one batch, one update per photo
        extra = "".join(f", {k}={v:g}" if isinstance(v, float) else f", {k}={v}"
                        for k, v in overrides.items() if k not in ("rank", "lora_lr_scale"))
        label = f"tuned W ({variant}{f', r={cfg.rank}, lr x{cfg.lora_lr_scale:g}' if 'lora' in variant else ''}{extra})"
        methods[label] = {"images": res.images, "seconds": np.full(n, res.seconds / n), "generators": res.generators,
                              "ws": pivot.ws, "noise": pivot.noise, "steps": res.steps}
        measure(label)
        _log(t0, f"{label}: {res.seconds:.0f}s for {n} images, steps run {res.steps}")


    results = report(methods, sets, n, args)
    print(f"\nMachine: {results['machine']}; total {time.time() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
