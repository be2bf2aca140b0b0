"""s2edit info: what a checkpoint, latent or direction file holds, and which op implementation will run."""

from typing import Annotated

import typer

from .._options import DeviceOpt


def info_command(
    network: Annotated[str | None, typer.Argument(help="Checkpoint path, URL, known name or 'demo'.")] = None,
    ops: Annotated[bool, typer.Option("--ops", help="Report the op implementations and why.")] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Describe a checkpoint (format, sizes, parameters), a latent or direction file, and/or the ops (--ops)."""
    from rich.table import Table

    from projector.describe import describe_file
    from stylegan2_core import ops as core_ops

    from .._console import out
    from .._options import resolve_device

    if network is None and not ops:
        raise typer.BadParameter("give a NETWORK, or --ops")
    described = describe_file(network) if network is not None else None
    if described is not None:
        out.print(_table(f"{network} ({described.kind} file)", described.rows))
        if not ops:
            return
    elif network is not None:
        out.print(_table(str(network), _checkpoint_rows(network, resolve_device(device))))
    status = core_ops.status()
    table = Table(title="ops")
    table.add_column("op")
    table.add_column("runs")
    table.add_column("why")
    for op, (impl, why) in status["ops"].items():
        table.add_row(op, impl, why)
    out.print(table)
    out.print(f"requested: {status['requested']} (from {status['requested_by']}); "
              f"set S2EDIT_OPS=auto|cuda|ref to choose")


def _checkpoint_rows(network: str, dev) -> list[tuple[str, str]]:
    """What a generator checkpoint holds: format, sizes, parameters, fp16 layers, loader notes."""
    from .._options import load_network

    G = load_network(network, dev)
    info = G.checkpoint
    fp16 = ", ".join(f"{r}px" for r in G.synthesis.fp16_resolutions) or "none"
    if G.synthesis.fp16_resolutions and dev.type != "cuda":
        fp16 += f" (run in fp32 on {dev.type})"
    rows = [
        ("format", info.format),
        ("network", info.network),
        ("file", info.path),
        ("sha256", info.sha256),
        ("model id", info.model_id),
        ("resolution", f"{G.img_resolution} x {G.img_resolution} x {G.img_channels}"),
        ("z_dim / w_dim", f"{G.z_dim} / {G.w_dim}"),
        ("num_ws", str(G.num_ws)),
        ("c_dim", str(G.c_dim) + (" (conditional)" if G.c_dim else " (unconditional)")),
        ("architecture", _architecture(G.cfg)),
        ("conv_clamp", str(G.cfg.synthesis.conv_clamp)),
        ("parameters", f"{sum(p.numel() for p in G.parameters()):,}"),
        ("fp16 layers", fp16),
    ]
    for note in info.notes:
        rows.append(("note", note))
    return rows


def _architecture(cfg) -> str:
    """StyleGAN3 networks by their official config name (T or R); StyleGAN2 ones by skip/resnet/orig."""
    if getattr(cfg, "architecture", None) == "stylegan3":
        return f"{cfg.variant} (StyleGAN3 config {cfg.variant[-1].upper()})"
    return f"StyleGAN2 {cfg.synthesis.architecture}"


def _table(title: str, rows):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in rows:
        table.add_row(key, escape(str(value)))
    return table
