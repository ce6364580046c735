"""A live table of the sweep's trials on stderr (stdout stays free for ``--json``).

On a terminal the table redraws in place; in a log (not a terminal) one line is printed
per finished trial instead, so CI logs and ``nohup`` files stay readable.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from results.ratios import SHARE_NAMES


def ratio_text(ratio: list[float] | None) -> str:
    return " : ".join(f"{x:.2f}" for x in ratio) if ratio else "-"


def pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, int | float) else "-"


class ProgressTable(Callback):
    """Tune callback drawing one row per trial: stage, ratio, seed, epoch, accuracies."""

    def __init__(self, title: str, total: int, epochs: int) -> None:
        self.title = title
        self.total = total
        self.epochs = epochs
        self._console: Console | None = None
        self._live: Live | None = None

    def __getstate__(self) -> dict:
        # Tune pickles its run config; the terminal handles stay behind.
        return {"title": self.title, "total": self.total, "epochs": self.epochs}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def setup(self, **info) -> None:
        self._console = self._console or Console(stderr=True)
        if self._console.is_terminal:
            self._live = Live(
                self.table([]), console=self._console, refresh_per_second=2, transient=False
            )
            self._live.start()

    def table(self, trials: list) -> Table:
        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        table = Table(title=f"{self.title} — {done}/{self.total} trials finished")
        shares = ":".join(SHARE_NAMES)
        for col in ("trial", "stage", shares, "seed", "epoch", "val", "test", "status"):
            table.add_column(col)
        for t in trials:
            r = t.last_result or {}
            table.add_row(
                t.trial_id,
                t.config.get("stage", "-"),
                ratio_text(t.config.get("ratio")),
                str(t.config.get("seed", "-")),
                f"{r.get('epoch', 0)}/{self.epochs}",
                pct(r.get("val_acc")),
                pct(r.get("test_acc")),
                t.status,
            )
        return table

    def _redraw(self, trials: list) -> None:
        if self._live is not None:
            self._live.update(self.table(trials))

    def _line(self, trial, what: str) -> None:
        if self._live is None and self._console is not None:
            r = trial.last_result or {}
            self._console.print(
                f"trial {trial.trial_id} {what}: {trial.config.get('stage', '-')} "
                f"ratio {ratio_text(trial.config.get('ratio'))} seed {trial.config.get('seed')} "
                f"epoch {r.get('epoch', 0)}/{self.epochs} val {pct(r.get('val_acc'))} "
                f"test {pct(r.get('test_acc'))}",
                highlight=False,
                soft_wrap=True,
            )

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._redraw(trials)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._redraw(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._redraw(trials)
        self._line(trial, "finished")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._redraw(trials)
        self._line(trial, "FAILED")

    def on_experiment_end(self, trials, **info) -> None:
        self._redraw(trials)
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
