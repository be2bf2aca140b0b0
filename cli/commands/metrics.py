"""``s2edit metrics``: FD-EffNetLite0 against real images and perceptual path length in W."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import DeviceOpt, ForceOpt


class Distance(str, Enum):
    effnet = "effnet"
    lpips = "lpips"
    auto = "auto"


def metrics_command(
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
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Measure a generator: FD-EffNetLite0 (Fréchet distance on EfficientNet-Lite0 features; not FID) and PPL-W."""
    from rich.table import Table

    from projector.metrics.evaluate import evaluate_generator, parse_metrics, write_metrics_json
    from projector.training.checkpoint import resolve_resume

    from .._console import console, out
    from .._options import check_outputs, load_network, resolve_device

    wanted = parse_metrics(metrics)
    if json_out is not None:
        check_outputs([json_out], force)
    dev = resolve_device(device)
    G = load_network(str(resolve_resume(network)) if Path(network).is_dir() else network, dev)  # a run: its G_ema
    distance = None
    if "ppl" in wanted:
        from projector.losses import make_perceptual

        distance, notice = make_perceptual(ppl_distance.value, dev, allow_download=False)
        if notice:
            console.print(f"[yellow]note:[/] {notice}")
    with console.status("metrics") as status:
        results = evaluate_generator(G, wanted, data=data, num=num, real_start=real_start, ppl_samples=ppl_samples,
                                     ppl_distance=distance, sampling=sampling, crop=crop, seed=seed,
                                     batch_size=batch_size, device=dev, stage=status.update)
    table = Table("metric", "value", "details")
    for r in results:
        table.add_row(r.name, f"{r.value:.4g}", ", ".join(f"{k}={v}" for k, v in r.details.items()))
    out.print(table)
    if json_out is not None:
        write_metrics_json(json_out, results)
