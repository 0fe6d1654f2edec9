"""Progress reporting as plain callbacks, so stages stay free of any display library."""

from __future__ import annotations

from collections.abc import Callable

#: progress(stage, done, total): what every long-running step reports into.
ProgressFn = Callable[[str, int, int], None]


def accumulate(report: ProgressFn | None, stage: str, total: int) -> Callable[[int], None]:
    """Turn a `report(stage, done, total)` into a `tick(increment)` that keeps the count."""
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if report is not None:
            report(stage, done, total)

    return tick
