"""Early stopping for the search stage only: ASHA's rule, decided in trial order.

``OrderedASHA`` is Tune's side of ``sweeps.rungs``: it feeds each search trial's curve to
the rung record and acts on its decision. Confirmation runs are never cut: each exists to
give one more full-length sample of a ratio, and cutting it short would bias the mean ± CI
that the confirmation stage is for.
"""

from __future__ import annotations

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from results.schema import VAL_ACC

from .rungs import STOP, WAIT, OrderedRungs


def is_search(trial) -> bool:
    return trial.config.get("stage", "search") == "search"


class OrderedASHA(FIFOScheduler):
    """ASHA on validation accuracy per epoch, with cuts that do not depend on arrival order.

    A search trial waiting on an earlier one trains on; at its last epoch but one it is
    paused (checkpointed, its slot freed) until the decision can be made, then stopped or
    resumed. The rung record is rebuilt from each trial's reported curve, so a resumed
    sweep decides as the uninterrupted one would have.
    """

    def __init__(self, grace_period: int, reduction_factor: float, max_t: int) -> None:
        super().__init__()
        self.rungs = OrderedRungs(grace_period, reduction_factor, max_t)
        self.max_t = max_t
        self.waiting: dict[str, Trial] = {}  # trial id -> a paused trial awaiting its cut

    def preload(self, trials) -> None:
        """The finished search trials of the study before this Tune experiment (a grown
        sweep's first ones), so the new trials are cut as in one sweep of the larger size."""
        for t in trials:
            if t.state.is_finished():
                self.rungs.record(t.number, [e[VAL_ACC] for e in t.user_attrs.get("curve", [])])
                self.rungs.end(t.number, int(t.user_attrs.get("epochs_completed", 0)))

    def on_trial_add(self, tune_controller, trial) -> None:
        if not is_search(trial):
            return
        self.rungs.add(trial.config["number"])
        last = trial.last_result or {}
        if "curve" in last:
            self._record(trial, last)
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            self.rungs.end(trial.config["number"], int(last.get("epoch", 0)))

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if not is_search(trial):
            return TrialScheduler.CONTINUE
        self._record(trial, result)
        decision = self.rungs.decide(trial.config["number"])
        self._settle(tune_controller, skip=trial)
        if decision == STOP:
            self.rungs.end(trial.config["number"], int(result["epoch"]))
            return TrialScheduler.STOP
        if decision == WAIT and int(result["epoch"]) >= self.max_t - 1:
            self.waiting[trial.trial_id] = trial
            return TrialScheduler.PAUSE
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._ended(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial, trial.last_result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial, trial.last_result)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        """FIFO, but a paused trial still waiting for its rung decision stays paused."""
        for trial in tune_controller.get_trials():
            if trial.status == Trial.PENDING:
                return trial
        for trial in tune_controller.get_trials():
            if trial.status == Trial.PAUSED and trial.trial_id not in self.waiting:
                return trial
        return None

    def _record(self, trial, result: dict) -> None:
        curve = [e[VAL_ACC] for e in result.get("curve", [])]
        self.rungs.record(trial.config["number"], curve)

    def _ended(self, tune_controller, trial, result: dict | None) -> None:
        if is_search(trial):
            self.rungs.end(trial.config["number"], int((result or {}).get("epoch", 0)))
            self.waiting.pop(trial.trial_id, None)
            self._settle(tune_controller)

    def _settle(self, tune_controller, skip=None) -> None:
        """Act on the paused trials whose wait is over: stop them, or let them resume."""
        for trial in sorted(self.waiting.values(), key=lambda t: t.config["number"]):
            if trial is skip:
                continue
            decision = self.rungs.decide(trial.config["number"])
            if decision == WAIT:
                continue
            del self.waiting[trial.trial_id]
            if decision == STOP:
                self.rungs.end(trial.config["number"], self.max_t - 1)
                tune_controller.stop_trial(trial)
