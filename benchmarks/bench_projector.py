"""Projector benchmarks: ground-truth recovery quality and step time.

recovery: project held-out generated images (seeds 100000+) with W / W+, with and
without noise optimization, and report PSNR, SSIM and perceptual distance to the
truth (the image the generator drew from that seed, const noise). PSNR is unbounded for an
exact recovery, so the median, the worst image and the share at >= 30 dB are reported
next to the mean.

speed: seconds per projection step and images/second at batch 1, 4, 16 for the
256 px configuration of bench_generator.py (random weights), offline perceptual loss.

ttq (time to quality): the official preset (1000 steps) is the baseline, run in the same
process and interleaved image by image with every candidate, so both see the same machine
load. Per image the candidate's clean projection (latent noise off) is evaluated every
``--eval-every`` steps, with the evaluation's time taken off the clock; the time to quality
is the first evaluation at which the candidate's perceptual distance is at or below the
baseline's final one and its PSNR at or above the baseline's. Image sets: ``in-world``
(held-out images the network drew, seeds 100000+, constant noise) and ``off-world`` (the
README's example image, then held-out world renders, seeds 3000000+, each with one thing the
generator never drew: an occluding block, text, pixel noise, JPEG artefacts, a blend with a
scikit-image photograph). Attribute agreement: the world's attribute predictor on target and
projection; a projection loses (invents) glasses when the target reads >= 0.5 and it reads
< 0.5 (or the reverse); the continuous attributes report the mean absolute difference as a
share of their range. ``--timing-256`` adds the 256 px random-weight network for time only
(``--sets`` with no set: that alone). ``--encoder FILE`` (an encoder for the network, ``s2edit
train-encoder``) adds two candidates: ``instant`` (the encoder's inversion alone) and ``fast+encoder``
(the fast preset started from the encoder's inversion, its ``encoder_steps`` schedule); a candidate
``LABEL=PRESET+encoder:field=value,...`` starts from it too.

folder: images per second of the folder job, ``torchrun --nproc_per_node P -m cli project``
over a folder of held-out demo images, for each P (each process with ``--threads`` threads), the
runs interleaved P by P ``--repeats`` times; wall time includes start-up and writing outputs.

gpu: the 1024 px config-f generator as the official FFHQ checkpoints are built (num_fp16_res 4,
conv_clamp 256) with random weights, and LPIPS with a randomly initialised VGG16 (the cost does
not depend on the weights, so nothing is downloaded); a target drawn by that generator. The
official preset at batch 1, the fast preset at batch 1, 8, 32: seconds per image, peak memory,
final distance. ``--resolution 64 --device cpu`` is a quick smoke test of the same code.

    python benchmarks/bench_projector.py recovery --network demo --images 32 --steps 1000
    python benchmarks/bench_projector.py speed --threads 2
    python benchmarks/bench_projector.py ttq --network demo --images 3 --threads 1 --timing-256
    python benchmarks/bench_projector.py ttq --network demo --images 3 --threads 1 --encoder runs/enc/FILE.safetensors
    python benchmarks/bench_projector.py folder --images 8 --processes 1 2 --repeats 2 --threads 1
    python benchmarks/bench_projector.py gpu --device cuda --out out/gpu_suite/projection.md
"""

import argparse
import os
import platform
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from projector import ProjectorConfig, project
from projector.losses import make_perceptual
from projector.metrics.image_quality import psnr, ssim
from stylegan2_core import (
    Generator,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
    from_uint8,
    load_generator,
    z_from_seeds,
)

RECOVERY_CONFIGS = ("w:optimize", "w:fixed", "w+:optimize", "w+:fixed")  # space:noise


def recovery(args) -> None:
    G = load_generator(args.network, device=args.device)
    distance, notice = make_perceptual(args.loss, device=args.device)
    seeds = list(range(100_000, 100_000 + args.images))
    with torch.no_grad():
        truth = torch.cat([G(z_from_seeds(seeds[i:i + 8], G.z_dim).to(args.device), noise_mode="const")
                           for i in range(0, len(seeds), 8)])
    print(f"Recovery of {args.images} generated images, {G.img_resolution}px, network {args.network}, "
          f"{args.steps} steps, loss {distance.name}, device {args.device}" + (f" ({notice})" if notice else ""))
    print()
    print("| space | noise | PSNR dB (mean ± std) | median | worst | >= 30 dB | SSIM | perceptual | s/image |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_image_psnr = {}
    for config in args.configs:
        space, noise = config.split(":")
        cfg = ProjectorConfig(steps=args.steps, space=space, optimize_noise=noise == "optimize", seed=0)
        p, s, d = [], [], []
        t0 = time.perf_counter()
        for i in range(0, len(seeds), args.batch):
            r = project(G, truth[i:i + args.batch], cfg, distance=distance, encoder=None)
            img = r.images.clamp(-1, 1)
            p += psnr(img, truth[i:i + args.batch]).tolist()
            s += ssim(img, truth[i:i + args.batch]).tolist()
            d += r.distance.tolist()
        seconds_per_image = (time.perf_counter() - t0) / len(seeds)
        recovered = sum(v >= 30 for v in p)
        print(f"| {space} | {noise} | {statistics.mean(p):.2f} ± {statistics.pstdev(p):.2f} | "
              f"{statistics.median(p):.2f} | {min(p):.2f} | {recovered}/{len(p)} | {statistics.mean(s):.3f} | "
              f"{statistics.mean(d):.4f} | {seconds_per_image:.1f} |")
        per_image_psnr[config] = p
    if args.per_image:
        print()
        for config, p in per_image_psnr.items():
            print(f"{config} PSNR per image (seed order): " + " ".join(f"{v:.1f}" for v in p))


def speed(args) -> None:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=args.resolution, mapping=MappingConfig(num_layers=8),
                          synthesis=SynthesisConfig(channel_base=16384, channel_max=512))
    G = Generator(cfg).eval().requires_grad_(False).to(args.device)
    distance, _ = make_perceptual(args.loss, device=args.device)
    print(f"Projection step time, {args.resolution}px (channel_base 16384, channel_max 512), loss {distance.name}, "
          f"device {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}")
    print()
    print("| batch | s/step | images/s (steps/s × batch) |")
    print("| ---: | ---: | ---: |")
    for batch in args.batches:
        target = torch.rand(batch, 3, args.resolution, args.resolution, device=args.device) * 2 - 1
        times = []

        def tick(step, times=times):
            times.append(time.perf_counter())

        project(G, target, ProjectorConfig(steps=args.steps, w_avg_samples=1000), distance=distance, callback=tick)
        per_step = statistics.median(b - a for a, b in zip(times[1:], times[2:]))
        print(f"| {batch} | {per_step:.3f} | {batch / per_step:.2f} |")


def _machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"


def offworld_images(count: int, size: int) -> torch.Tensor:
    """Deterministic off-world targets: the README's example face, then held-out world renders each
    carrying one thing the generator never drew (block, text, pixel noise, JPEG, photo blend)."""
    import cv2
    import skimage.data

    from projector.images import load_target
    from projector.world import render

    example = Path(__file__).resolve().parents[1] / "examples" / "data" / "world_face.png"
    images = [load_target(example, size)[0]]
    photo = cv2.resize(skimage.data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    for i in range(count - 1):
        rs = np.random.RandomState(i)
        img = render(3_000_000 + i, size)[0].copy()
        kind = i % 5
        if kind == 0:  # an occluding block
            x, y = rs.randint(0, size // 2, 2)
            img[y:y + size // 3, x:x + size // 3] = rs.randint(0, 256, 3)
        elif kind == 1:  # text
            cv2.putText(img, "s2e", (size // 8, size * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX, size / 64, (255, 255, 40), 2)
        elif kind == 2:  # pixel noise
            img = np.clip(img + rs.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
        elif kind == 3:  # JPEG artefacts
            img = cv2.imdecode(cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 15])[1], 1)[..., ::-1]
        else:  # a photograph blended in
            img = (0.65 * img + 0.35 * photo).astype(np.uint8)
        images.append(from_uint8(np.ascontiguousarray(img)[None]))
    return torch.cat(images)


def inworld_images(G, count: int) -> torch.Tensor:
    with torch.no_grad():
        return G(z_from_seeds(list(range(100_000, 100_000 + count)), G.z_dim), noise_mode="const")


def _parse_candidate(spec: str) -> tuple[str, ProjectorConfig, bool]:
    """``NAME`` (a preset) or ``LABEL=PRESET[+encoder]:field=value,...``; returns the label, the settings and
    whether the run starts from ``--encoder``'s inversion (``+encoder``)."""
    label, _, rest = spec.partition("=")
    if not rest:
        return label, ProjectorConfig.preset(label), False
    preset, _, fields = rest.partition(":")
    preset, plus, _ = preset.partition("+encoder")
    types = {k: type(v) for k, v in asdict(ProjectorConfig()).items()}
    def cast(k, v):  # a field whose default is None (encoder_steps, ...) takes an int
        kind = int if types[k] is type(None) else types[k]
        return v.lower() in ("1", "true") if kind is bool else kind(v)

    overrides = {k: cast(k, v) for k, v in (f.split("=") for f in fields.split(",") if f)}
    return label, ProjectorConfig.preset(preset, **overrides), bool(plus)


def _run_timed(G, target, cfg, distance, eval_every: int, encoder=None):
    """Project one image (from ``encoder``'s inversion when given); returns the result and the curve
    [(seconds, distance, psnr)] of its clean projection every ``eval_every`` steps (evaluation time excluded
    from the clock; the instant preset, which has no steps: its result alone)."""
    curve = []
    paused = 0.0
    t0 = time.perf_counter()

    def on_step(s):
        nonlocal paused
        if (s.step + 1) % eval_every and s.step + 1 != s.num_steps:
            return
        now = time.perf_counter()
        with torch.no_grad():
            img = G.synthesis(s.ws, noise=s.noise, fused_modconv=False)
            d = float(distance(img, target)[0])
            p = float(psnr(img.clamp(-1, 1), target)[0])
        curve.append((now - t0 - paused, d, p))
        paused += time.perf_counter() - now

    result = project(G, target, cfg, distance=distance, callback=on_step, encoder=encoder)
    seconds = time.perf_counter() - t0 - paused
    if not curve:
        with torch.no_grad():
            curve.append((seconds, float(distance(result.images, target)[0]),
                          float(psnr(result.images.clamp(-1, 1), target)[0])))
    return result, seconds, curve


def _attributes(predictor, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return predictor.predict_labels(images.clamp(-1, 1)).numpy()


def _summary(rows: dict[str, list[dict]]) -> None:
    """The set's table: medians over images, the mean PSNR, and each run's whole wall time as a share of the
    baseline's on the same image (its largest), next to how many images it ends at or above the baseline."""
    print("| run | perceptual | PSNR dB | mean PSNR dB | wall s | whole run (max) | ends >= official | reached "
          "baseline | time to quality | glasses lost / invented | attribute drift |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = rows["official"]
    for label, items in rows.items():
        ratios = [r["ratio"] for r in items if r["ratio"] is not None]
        ttq_text = "-" if label == "official" else (
            f"{statistics.median(ratios):.2f}x (max {max(ratios):.2f}x)" if len(ratios) == len(items)
            else f"not reached on {len(items) - len(ratios)}")
        shares = [r["s"] / b["s"] for r, b in zip(items, base)]
        ends = sum(r["d"] <= b["d"] and r["p"] >= b["p"] for r, b in zip(items, base))
        print(f"| {label} | {statistics.median(r['d'] for r in items):.4f} | "
              f"{statistics.median(r['p'] for r in items):.2f} | {statistics.mean(r['p'] for r in items):.2f} | "
              f"{statistics.median(r['s'] for r in items):.2f} | {statistics.median(shares):.4f}x "
              f"({max(shares):.4f}x) | {ends}/{len(items)} | {len(ratios)}/{len(items)} | {ttq_text} | "
              f"{sum(r['lost'] for r in items)} / {sum(r['invented'] for r in items)} | "
              f"{statistics.mean(r['drift'] for r in items):.3f} |")
    print(flush=True)


def ttq(args) -> None:
    from projector.world import ATTRIBUTES
    from projector.world.predictor import default_predictor

    G = load_generator(args.network, device="cpu")
    distance, notice = make_perceptual(args.loss, device="cpu")
    predictor = default_predictor()
    binary = [i for i, a in enumerate(ATTRIBUTES) if a.kind == "binary"]
    ranges = np.array([a.high - a.low for a in ATTRIBUTES])
    parsed = [_parse_candidate(c) for c in args.candidates]
    candidates = [(label, cfg) for label, cfg, _ in parsed]
    encoders = {}  # candidate label -> the encoder it starts from
    if args.encoder:
        from projector.encoder import load_encoder

        encoder = load_encoder(args.encoder, G)
        encoders = {label: encoder for label, _, started in parsed if started}
        for label, preset in (("instant", "instant"), ("fast+encoder", "fast")):
            candidates.append((label, ProjectorConfig.preset(preset)))
            encoders[label] = encoder
    elif any(started for _, _, started in parsed):
        raise SystemExit("a +encoder candidate needs --encoder FILE")
    baseline = ProjectorConfig.preset("official")
    first, count = args.first, args.images
    builders = {"in-world": lambda: inworld_images(G, first + count)[first:],
                "off-world": lambda: offworld_images(first + count, G.img_resolution)[first:]}
    sets = {name: builders[name]() for name in args.sets}
    print(f"Time to quality: network {args.network} ({G.img_resolution}px), loss {distance.name}, "
          f"{args.images} images per set (from image {args.first}), machine: {_machine()}, load average at start "
          f"{os.getloadavg()[0]:.1f}" + (f" ({notice})" if notice else ""))
    for label, cfg in candidates:
        changed = {k: v for k, v in asdict(cfg).items() if v != asdict(baseline)[k]}
        print(f"candidate {label}: official preset with {changed}")
    for set_name, targets in sets.items():
        rows = {label: [] for label in ["official"] + [lab for lab, _ in candidates]}
        for i in range(len(targets)):
            target = targets[i:i + 1]
            truth = _attributes(predictor, target)
            runs = [("official", baseline, args.baseline_eval_every)] + [(lab, c, args.eval_every) for lab, c in candidates]
            base = None
            for label, cfg, every in runs:
                result, seconds, curve = _run_timed(G, target, cfg, distance, every, encoders.get(label))
                final_d, final_p = curve[-1][1], curve[-1][2]
                if base is None:
                    base = (final_d, final_p, seconds)
                reached = next((t for t, d, p in curve if d <= base[0] and p >= base[1]), None)
                attrs = _attributes(predictor, result.images)
                lost = int(sum((truth[0, j] >= 0.5) and (attrs[0, j] < 0.5) for j in binary))
                invented = int(sum((truth[0, j] < 0.5) and (attrs[0, j] >= 0.5) for j in binary))
                cont = [j for j in range(len(ATTRIBUTES)) if j not in binary]
                drift = float(np.mean(np.abs(attrs[0, cont] - truth[0, cont]) / ranges[cont]))
                rows[label].append({"d": final_d, "p": final_p, "s": seconds, "reached": reached, "ratio": None if reached is None
                                        else reached / base[2], "lost": lost, "invented": invented, "drift": drift,
                                        "glasses": (float(truth[0, binary[0]]), float(attrs[0, binary[0]]))})
                print(f"  {set_name} image {i} {label}: perceptual {final_d:.4f}, PSNR {final_p:.2f} dB, {seconds:.1f} s, "
                      f"reached baseline at {'-' if reached is None else f'{reached:.1f} s'}, glasses "
                      f"{truth[0, binary[0]]:.2f}->{attrs[0, binary[0]]:.2f}, attribute drift {drift:.3f}", flush=True)
        print(f"\n{set_name} ({len(targets)} images; medians over images; time to quality as a share of the "
              f"baseline's wall time, per image)\n")
        _summary(rows)
    if args.timing_256:  # the encoders belong to the network, not to the 256 px random one
        timing_256([(label, c) for label, c in candidates if label not in encoders], baseline, args)


def timing_256(candidates, baseline, args) -> None:
    """Wall time of each run on the 256 px random-weight network: start-up (statistics, sampling)
    measured, Adam steps and L-BFGS iterations extrapolated from the median of ``args.timing_steps``
    timed ones of each."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=256, mapping=MappingConfig(num_layers=8),
                          synthesis=SynthesisConfig(channel_base=16384, channel_max=512))
    G = Generator(cfg).eval().requires_grad_(False)
    distance, _ = make_perceptual(args.loss, device="cpu")
    with torch.no_grad():
        target = G(z_from_seeds([7], G.z_dim), noise_mode="const")
    print("\n256 px random-weight network (channel_base 16384, channel_max 512): time only\n")
    print("| run | start-up s | s / step | steps | s / L-BFGS iteration | iterations | wall s (extrapolated) "
          "| share of official |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_total = None
    for label, run_cfg in [("official", baseline)] + candidates:
        stamps = []
        refine = min(run_cfg.refine_steps, args.timing_steps)
        short = ProjectorConfig.preset("official", **{**asdict(run_cfg), "steps": args.timing_steps,
                                                      "refine_steps": refine})
        t0 = time.perf_counter()
        project(G, target, short, distance=distance, callback=lambda s, stamps=stamps: stamps.append(time.perf_counter()))
        adam, lbfgs = stamps[:args.timing_steps], stamps[args.timing_steps - 1:]
        startup = adam[0] - t0 - (adam[1] - adam[0])
        per_step = statistics.median(b - a for a, b in zip(adam, adam[1:]))
        per_iteration = statistics.median(b - a for a, b in zip(lbfgs, lbfgs[1:])) if refine else 0.0
        total = startup + per_step * run_cfg.steps + per_iteration * run_cfg.refine_steps
        base_total = base_total or total
        print(f"| {label} | {startup:.1f} | {per_step:.3f} | {run_cfg.steps} | {per_iteration:.3f} | "
              f"{run_cfg.refine_steps} | {total:.0f} | {total / base_total:.2f}x |", flush=True)


def folder(args) -> None:
    import subprocess
    import sys
    import tempfile

    from projector.images import save_image

    G = load_generator(args.network)
    root = Path(tempfile.mkdtemp(prefix="bench_folder_"))
    for i, image in enumerate(inworld_images(G, args.images)):
        save_image(root / "photos" / f"img{i:03d}.png", image)
    steps = ["--steps", str(args.steps)] if args.steps else []
    encoder = ["--encoder", args.encoder] if args.encoder else []
    print(f"Folder job: {args.images} demo images, preset {args.preset}, {args.steps or 'its'} steps, batch {args.batch}, "
          f"encoder {args.encoder or 'the network default'}, "
          f"machine: {_machine()}, load average at start {os.getloadavg()[0]:.1f}\n")
    times = {p: [] for p in args.processes}
    for r in range(args.repeats):
        for procs in args.processes:
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m",
                   "cli", "project", str(root / "photos"), "--network", args.network, "--preset", args.preset, *steps,
                   *encoder, "--batch-size", str(args.batch), "--loss", args.loss, "--device", "cpu",
                   "--outdir", str(root / f"out{procs}_{r}")]
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times[procs].append(time.perf_counter() - t0)
    print("| processes | threads each | wall s (median) | images / s | speed-up |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    base = statistics.median(times[args.processes[0]])
    for procs, t in times.items():
        wall = statistics.median(t)
        print(f"| {procs} | {args.threads} | {wall:.1f} | {args.images / wall:.3f} | {base / wall:.2f}x |")


class RandomVggLpips(torch.nn.Module):
    """LPIPS VGG16 v0.1 with a randomly initialised backbone: the real distance's cost, no download."""

    name = "lpips-random-vgg"

    def __init__(self, device):
        super().__init__()
        from projector.losses import _import_lpips  # tolerates a torchvision without compiled ops

        self.model = _import_lpips().LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        self.model.eval().requires_grad_(False).to(device)

    def forward(self, a, b):
        return self.model(a, b).flatten()


def config_f(resolution: int, channel_base: int = 32768) -> GeneratorConfig:
    """The official config-f generator (FFHQ 1024: channel_base 32768, num_fp16_res 4, conv_clamp 256)."""
    return GeneratorConfig(z_dim=512, w_dim=512, img_resolution=resolution, mapping=MappingConfig(num_layers=8),
                           synthesis=SynthesisConfig(channel_base=channel_base, channel_max=512, num_fp16_res=4,
                                                     conv_clamp=256))


def gpu(args) -> None:
    device = torch.device(args.device)
    torch.manual_seed(0)
    G = Generator(config_f(args.resolution, args.channel_base)).eval().requires_grad_(False).to(device)
    distance = RandomVggLpips(device)
    cuda = device.type == "cuda"
    machine = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}" if cuda else _machine()
    lines = [f"Projection at {args.resolution}px, config-f (channel_base {args.channel_base}, num_fp16_res 4, "
             f"conv_clamp 256), random weights, LPIPS VGG16 (random backbone), device {machine}", "",
             "| preset | batch | steps | s / image | peak GiB | final distance (median) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    print("\n".join(lines), flush=True)
    runs = [("official", 1)] + [("fast", b) for b in args.batches]
    for name, batch in runs:
        cfg = ProjectorConfig.preset(name)
        if args.steps:  # smoke tests: a few steps of each phase
            cfg = replace(cfg, steps=args.steps, refine_steps=min(cfg.refine_steps, args.steps))
        with torch.no_grad():
            target = torch.cat([G(z_from_seeds([i], G.z_dim).to(device), noise_mode="const") for i in range(batch)])
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        try:
            t0 = time.perf_counter()
            r = project(G, target, cfg, distance=distance)
            if cuda:
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
        except torch.OutOfMemoryError:
            line = f"| {name} | {batch} | {cfg.schedule} | out of memory | - | - |"
        else:
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
            if not torch.isfinite(r.distance).all():
                raise SystemExit(f"{name} at batch {batch}: non-finite distance")
            line = (f"| {name} | {batch} | {cfg.schedule} | {seconds / batch:.2f} | {peak:.1f} | "
                    f"{float(r.distance.median()):.4f} |")
        finally:
            if cuda:
                torch.cuda.empty_cache()
        lines.append(line)
        print(line, flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    rec = sub.add_parser("recovery")
    rec.add_argument("--network", default="demo")
    rec.add_argument("--images", type=int, default=32)
    rec.add_argument("--steps", type=int, default=1000)
    rec.add_argument("--batch", type=int, default=8)
    rec.add_argument("--per-image", action="store_true", help="also list every image's PSNR (seed order)")
    rec.add_argument("--configs", nargs="+", default=list(RECOVERY_CONFIGS), choices=RECOVERY_CONFIGS,
                     help="space:noise rows to measure (default: all four)")
    spd = sub.add_parser("speed")
    spd.add_argument("--resolution", type=int, default=256)
    spd.add_argument("--steps", type=int, default=6)
    spd.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    tq = sub.add_parser("ttq")
    tq.add_argument("--network", default="demo")
    tq.add_argument("--images", type=int, default=3, help="images per set")
    tq.add_argument("--first", type=int, default=0, help="skip this many images of each set (a held-out selection)")
    tq.add_argument("--candidates", nargs="+", default=["fast"],
                    help="preset names, or LABEL=PRESET:field=value,... (e.g. k32=fast:init_samples=32)")
    tq.add_argument("--sets", nargs="*", default=["in-world", "off-world"], choices=["in-world", "off-world"],
                    help="image sets to measure (none: only --timing-256)")
    tq.add_argument("--eval-every", type=int, default=10)
    tq.add_argument("--baseline-eval-every", type=int, default=100)
    tq.add_argument("--timing-256", action="store_true", help="also time every run on the 256 px random network")
    tq.add_argument("--timing-steps", type=int, default=4)
    tq.add_argument("--encoder", default=None, help="an encoder for --network: adds the instant and fast+encoder rows")
    fo = sub.add_parser("folder")
    fo.add_argument("--network", default="demo")
    fo.add_argument("--images", type=int, default=8)
    fo.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    fo.add_argument("--preset", default="fast")
    fo.add_argument("--steps", type=int, default=0, help="Adam steps (0: the preset's)")
    fo.add_argument("--batch", type=int, default=2)
    fo.add_argument("--encoder", default=None, help="passed to project --encoder (FILE or none; default: the network's)")
    fo.add_argument("--repeats", type=int, default=2)
    gp = sub.add_parser("gpu")
    gp.add_argument("--resolution", type=int, default=1024)
    gp.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    gp.add_argument("--channel-base", type=int, default=32768, help="smaller for smoke tests")
    gp.add_argument("--steps", type=int, default=0, help="override every preset's steps (smoke tests)")
    gp.add_argument("--out", default="")
    for p in (rec, spd, tq, fo, gp):
        p.add_argument("--loss", default="effnet")
        p.add_argument("--device", default="cpu")
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"recovery": recovery, "speed": speed, "ttq": ttq, "folder": folder, "gpu": gpu}[args.what](args)


if __name__ == "__main__":
    main()
