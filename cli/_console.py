"""The CLI's only console and progress factory (messages go to stderr)."""

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
