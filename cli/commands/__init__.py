"""One module per command. Module ``NAME`` defines ``NAME_command`` (a plain command) or ``app`` (a command group)."""

from importlib import import_module

import typer

_MODULES = ["generate", "project", "mix", "video", "directions", "edit", "align", "paste", "world", "train", "train_encoder", "widen", "metrics", "info", "convert", "studio"]


def register_all(app: typer.Typer) -> None:
    for name in _MODULES:
        module = import_module(f"{__name__}.{name}")
        cli_name = getattr(module, "NAME", name)
        if hasattr(module, "app"):
            app.add_typer(module.app, name=cli_name)
        else:
            app.command(cli_name)(getattr(module, f"{name}_command"))
