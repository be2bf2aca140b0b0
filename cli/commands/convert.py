"""s2edit convert: any supported checkpoint -> native .safetensors or rosinality .pt (optionally with a tuned update baked in)."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import ForceOpt


def convert_command(
    network: Annotated[str, typer.Argument(help="Source checkpoint (path, URL, known name).")],
    output: Annotated[Path, typer.Argument(help="Output file: .safetensors (native) or .pt (rosinality).")],
    which: Annotated[str | None, typer.Option("--which", help="Network in a snapshot: G_ema (default) or G; TF: Gs or G.")] = None,
    tuned: Annotated[Path | None, typer.Option("--tuned", help="A tuned file (project --tune) to bake in: the output "
                                                               "draws the tuned photo in any tool; render its latent "
                                                               "with --no-tuned.")] = None,
    force: ForceOpt = False,
) -> None:
    """Convert a generator checkpoint; outputs reproduce the source's images (or the tuned generator's)."""
    from projector import load_network
    from projector.tuned_file import baked_generator
    from stylegan2_core import save_generator
    from stylegan2_core.errors import InputError

    from .._console import out
    from .._options import check_outputs

    if output.suffix not in (".safetensors", ".pt", ".pth"):
        raise InputError(f"{output}: unknown output format; use .safetensors (native) or .pt (rosinality)")
    check_outputs([output], force)
    G = load_network(network, device="cpu", network=which)
    source = f"{G.checkpoint.format} ({G.checkpoint.network})"
    extra = {"source_format": G.checkpoint.format, "source_sha256": G.checkpoint.sha256}
    if tuned is not None:
        G, extra["baked_tuned"] = baked_generator(G, tuned)
        source += f" + {tuned}"
    save_generator(G, output, extra=extra)
    out.print(f"{source} -> {output}")
