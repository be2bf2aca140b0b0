"""Latents projected with ``--tune`` render with their tuned generator unless ``--no-tuned``."""

from typing import Annotated

import typer

NoTunedOpt = Annotated[bool, typer.Option("--no-tuned", help="Use the base network even when a latent file "
                                                            "records a tuned generator.")]


def with_tuned(G, sources, no_tuned: bool):
    """The generator for ``sources``: the tuned one their latent files record (saying so), else ``G``."""
    if no_tuned:
        return G
    from projector.tuned_file import tuned_generator

    from ._console import console

    G, note = tuned_generator(G, [s for s in sources if s is not None])
    if note:
        console.print(f"[cyan]note:[/] {note}")
    return G
