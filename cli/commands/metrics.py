"""``s2edit metrics``: FD-EffNetLite0 against real images and perceptual path length in W."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import DeviceOpt


class Distance(str, Enum):
    effnet = "effnet"
    lpips = "lpips"
    auto = "auto"


def command(
    network: Annotated[str, typer.Option("--network", "-n", help="Checkpoint (path, URL, known name, 'demo') or a training run folder.")] = "demo",
    data: Annotated[str, typer.Option("--data", help="Real images for FD: an image folder, a zip, or 'world'.")] = "world",
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated: fd, ppl.")] = "fd,ppl",
    num: Annotated[int, typer.Option("--num", min=2, help="Generated and real images for FD.")] = 2000,
    real_start: Annotated[int, typer.Option("--real-start", min=0, help="First real image (world: first seed).")] = 5_000_000,
    ppl_samples: Annotated[int, typer.Option("--ppl-samples", min=2, help="Path-length samples (the paper uses 50000).")] = 2000,
    ppl_distance: Annotated[Distance, typer.Option("--ppl-distance", help="Perceptual distance for PPL: effnet (offline), lpips (VGG16, the paper's), auto.")] = Distance.effnet,
    sampling: Annotated[str, typer.Option("--sampling", help="PPL t: 'end' (t = 0, the paper's) or 'full' (uniform).")] = "end",
    crop: Annotated[bool, typer.Option("--crop", help="PPL on the paper's central face crop.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated samples.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON.")] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Measure a generator: FD-EffNetLite0 (Fréchet distance on EfficientNet-Lite0 features; not FID) and PPL-W."""
    import json

    from rich.table import Table

    from projector.metrics.generative import fd_effnet_lite0, ppl_w, real_feature_stats
    from projector.training.checkpoint import resolve_resume
    from projector.training.data import open_source
    from stylegan2_core.errors import InputError

    from .._console import console, out
    from .._options import load_network, resolve_device

    wanted = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = sorted(set(wanted) - {"fd", "ppl"})
    if unknown or not wanted:
        raise InputError(f"unknown metrics {unknown or wanted}: choose from fd, ppl")
    if sampling not in ("end", "full"):
        raise InputError(f"--sampling must be 'end' or 'full', got {sampling!r}")
    dev = resolve_device(device)
    if Path(network).is_dir():  # a training run folder: its latest checkpoint's G_ema
        network = str(resolve_resume(network))
    G = load_network(network, dev)
    if G.c_dim:
        raise InputError("metrics support unconditional generators only")
    results = []
    if "fd" in wanted:
        if data == "world":
            source, start = open_source("world", G.img_resolution, world_start_seed=real_start), 0
        else:
            source, start = open_source(data, G.img_resolution), real_start
        with console.status(f"FD-EffNetLite0: features of {num} real images"):
            real = real_feature_stats(source, num, start=start, batch_size=batch_size, device=dev)
        with console.status(f"FD-EffNetLite0: features of {num} generated images"):
            results.append(fd_effnet_lite0(G, real, num, seed=seed, batch_size=batch_size, device=dev))
    if "ppl" in wanted:
        from projector.losses import make_perceptual

        dist, notice = make_perceptual(ppl_distance.value, dev, allow_download=False)
        if notice:
            console.print(f"[yellow]note:[/] {notice}")
        with console.status(f"PPL-W: {ppl_samples} samples"):
            results.append(ppl_w(G, ppl_samples, sampling=sampling, crop=crop, distance=dist,
                                 batch_size=max(batch_size // 2, 1), seed=seed, device=dev))
    table = Table("metric", "value", "details")
    for r in results:
        table.add_row(r.name, f"{r.value:.4g}", ", ".join(f"{k}={v}" for k, v in r.details.items()))
    out.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps({r.name: {"value": r.value, **r.details} for r in results}, indent=2))
