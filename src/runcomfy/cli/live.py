"""A spinner with the seconds elapsed while a request waits, on a terminal only.

Waiting on a queue can take minutes with nothing new to say; a spinner that keeps counting shows the command is
alive (as ``gh`` and ``fal`` do). It appears only when progress lines would carry emoji (pretty mode, stderr a
terminal, colour allowed, no ``-q``), so pipes, logs and json mode never see a control sequence. rich draws it
and is imported only then. While it runs, whatever the Output sink writes to stderr is printed above it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runcomfy.cli.output import Output


class WaitSpinner:
    """``with WaitSpinner(out) as spinner: spinner.update("in_queue (position 2)")``; a no-op off a terminal."""

    def __init__(self, output: Output, text: str = "waiting") -> None:
        self._enabled = output.use_emoji and output.chatty
        self._text = text
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> WaitSpinner:
        if not self._enabled:
            return self
        from rich.console import Console
        from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
        from rich.text import Text

        class SecondsColumn(ProgressColumn):
            """Whole seconds since the wait started, recomputed at every redraw (between polls too)."""

            def render(self, task: Task) -> Text:
                return Text(f"{int(task.elapsed or 0)}s", style="dim")

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            SecondsColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
            refresh_per_second=4,
        )
        self._task = self._progress.add_task(self._text, total=None)
        self._progress.start()
        return self

    def update(self, text: str) -> None:
        """Show ``text`` (the current status) beside the spinner."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
