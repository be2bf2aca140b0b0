"""The CLI's only console and progress factory (messages go to stderr), and its graceful-stop signal handling."""

import contextlib
import signal
import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def progress() -> Progress:
    """A progress bar with count, elapsed and remaining time, and a free-text status field."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )


def stage_progress(bar: Progress, status: dict[str, str] | None = None):
    """A library ``progress(stage, done, total)`` callback: one task per stage on ``bar``."""
    tasks = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total, status=(status or {}).get(stage, ""))
        bar.update(tasks[stage], completed=done)

    return update


@contextlib.contextmanager
def graceful_stop():
    """While active, the first Ctrl-C or SIGTERM asks the running job to stop after its current step (the
    yielded ``requested()`` turns True); a second one stops at once."""
    requested = threading.Event()

    def handler(signum, frame) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested.is_set
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
