"""Root ``s2edit`` app: global options, command registration, the one error boundary."""

import logging
import os
import signal
import sys
import threading

import typer
from typer.exceptions import TyperException

from stylegan2_core.errors import Interrupted, S2EditError

from ._console import console

app = typer.Typer(
    name="s2edit",
    help="StyleGAN2 projection and editing: generate, project, mix, video, edit, align, convert.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        from stylegan2_core import __version__

        from ._console import out

        out.print(f"s2edit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log library details."),
    version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """s2edit: StyleGAN2 latent projection and image editing."""
    _state["debug"] = debug or bool(os.environ.get("S2EDIT_DEBUG"))
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_time=False, show_path=False)],
        force=True,
    )


def _register() -> None:
    from .commands import register_all

    register_all(app)


_register()


def _terminate(signum, frame) -> None:
    """SIGTERM ends a command the way Ctrl-C does: the current step finishes its files, then it stops."""
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry: run the app and map library errors to one-line messages."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(prog_name="s2edit", standalone_mode=False)
    except S2EditError as err:
        if _state["debug"]:
            raise
        label = "[yellow]interrupted:[/]" if isinstance(err, Interrupted) else "[bold red]error:[/]"
        console.print(f"{label} {err}", soft_wrap=True)
        sys.exit(err.exit_code)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except OSError as err:  # permission denied, disk full, not a directory: the user's to fix, not a bug
        if _state["debug"]:
            raise
        where = f"{err.filename}: " if err.filename else ""
        console.print(f"[bold red]error:[/] {where}{err.strerror or err}", soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("[red]interrupted[/]")
        sys.exit(130)
    except TyperException as err:  # usage errors: bad option value, missing argument, unknown command
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        command = getattr(getattr(err, "ctx", None), "command_path", "s2edit")
        console.print(f"[bold red]error:[/] {' '.join(message.split())} (see {command} -h)", soft_wrap=True)
        sys.exit(err.exit_code)
    except Exception as err:
        if _state["debug"]:
            raise
        console.print(f"[bold red]internal error:[/] {type(err).__name__}: {err} (rerun with --debug for the traceback)",
                      soft_wrap=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
