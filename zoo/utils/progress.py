"""A progress bar for steps that take more than a few seconds (evaluation, probes, exports, benchmarks).

It draws on stderr with tqdm (a dependency of tensorflow-datasets), so stdout
keeps only results; by default it draws only when stderr is a terminal, so logs
and tests stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Steps:
    """A bar over ``total`` named steps: ``start(name)`` shows what runs now, ``done()`` counts it."""

    def __init__(self, total: int, desc: str, enabled: bool | None = None, file=None) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm comes with tensorflow-datasets
            tqdm = None
        file = sys.stderr if file is None else file
        disable = (not file.isatty()) if enabled is None else not enabled
        self.bar = None if tqdm is None or disable else tqdm(
            total=total, desc=desc, file=file, leave=False, dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} {postfix} [{elapsed}]")

    def start(self, name: str) -> None:
        """Show that step ``name`` is running."""
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def done(self) -> None:
        """Count the running step as finished (a step beyond ``total`` raises the total: never "5/4")."""
        if self.bar is not None:
            if self.bar.total is not None and self.bar.n >= self.bar.total:
                self.bar.total = self.bar.n + 1
            self.bar.update(1)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


@contextmanager
def steps(total: int, desc: str, enabled: bool | None = None, file=None) -> Iterator[Steps]:
    """A :class:`Steps` bar, closed at the end.

    Args:
        total: Number of steps.
        desc: What the steps are for (``"evaluate ae_conv.mnist"``).
        enabled: Draw the bar; None draws it when ``file`` is a terminal.
        file: Where to draw (default stderr).

    Example:
        >>> with steps(2, "evaluate") as bar:
        ...     bar.start("reconstruction"); bar.done()
    """
    bar = Steps(total, desc, enabled, file)
    try:
        yield bar
    finally:
        bar.close()
