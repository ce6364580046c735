"""``biril bench --only search``: how well the sweep names the best ratio, without training.

A synthetic accuracy landscape over the simplex with a known optimum stands in for the
trainer: a smooth bowl, ``f(r) = top − depth · |r − r*|²``, its optimum ``r*`` drawn
uniformly on the simplex for each repetition. A run of ratio ``r`` on seed ``s`` measures
``f(r)`` plus seed noise of SD ``noise`` (1.2 points, the seed-to-seed SD measured on
digits), half of its variance shared by every ratio run on that seed (the seed fixes the
initial weights and the batch order), rounded to whole validation images (144, digits').
Its curve approaches ``f(r)`` over the epochs, so ASHA cuts on a noisy early value.

The sweep's own decision code runs on it, without Ray (the repetitions would take hours
of trial actors on 2 shared cores): the spec's Optuna sampler and search space with its
warm starts (``searcher.make_sampler``, ``space.RatioSpace``), the rung decisions
(``rungs.OrderedRungs``), the confirmation plan (``confirm.Confirmation``) or the race
(``racing.race``), and the answer by the one ranking rule (``results.ranking.rank``). The
search runs one trial at a time (Tune runs several; with ordered rungs only the sampler's
view of the finished trials depends on that).

Both schemes share each repetition's search stage; they differ in the confirmation runs
that follow, counted in trial-epochs (runs × epochs). Pure STBP's baseline runs, the same
in both, are left out: they do not change which ratio is named.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

import optuna

from results.ranking import rank
from results.ratios import ratio_key
from results.runs import Run

from .confirm import Confirmation
from .racing import race
from .rungs import STOP, WAIT, OrderedRungs
from .searcher import make_sampler
from .space import RatioSpace, warm_start_params
from .spec import SweepSpec, load_spec

HIT_POINTS = 0.005  # "within 0.5 points of the true optimum"


@dataclass(frozen=True)
class Landscape:
    """The synthetic truth of one repetition, and its noise."""

    optimum: tuple[float, float, float]
    top: float = 0.985
    depth: float = 0.06
    noise: float = 0.012
    shared: float = 0.5  # share of the seed variance common to every ratio on a seed
    val_size: int = 144
    tau: float = 2.0  # epochs for the curve to close 1/e of its gap
    gap: float = 0.3

    def truth(self, ratio) -> float:
        return self.top - self.depth * sum((a - b) ** 2 for a, b in zip(ratio, self.optimum,
                                                                        strict=True))


class FakeTrainer:
    """Runs of the landscape: per seed a shared offset, per run its own; curves per epoch.

    A run is a function of (repetition, ratio, seed), as a real seeded run is, so the two
    schemes see the same measurement wherever they run the same ratio on the same seed.
    """

    def __init__(self, land: Landscape, rep: int) -> None:
        self.land, self.rep = land, rep

    def curve(self, ratio, seed: int, epochs: int) -> list[float]:
        land = self.land
        shared = random.Random(f"{self.rep}/seed/{seed}").gauss(0, 1) * math.sqrt(land.shared)
        rng = random.Random(f"{self.rep}/{ratio_key(ratio)}/{seed}")
        own = rng.gauss(0, 1) * math.sqrt(1 - land.shared)
        final = land.truth(ratio) + land.noise * (shared + own)
        out = []
        for e in range(1, epochs + 1):
            # Epoch-to-epoch wobble about the trend, a quarter of the seed noise.
            acc = final - land.gap * math.exp(-e / land.tau) + rng.gauss(0, land.noise / 4)
            out.append(min(1.0, max(0.0, round(acc * land.val_size) / land.val_size)))
        return out


@dataclass
class Searched:
    """One repetition's search stage: the study and the runs it made."""

    study: optuna.Study
    runs: list[Run]
    trial_epochs: int


def run_search(spec: SweepSpec, trainer: FakeTrainer) -> Searched:
    """The search stage as the sweep runs it: warm starts, then the sampler, ordered rungs."""
    study = optuna.create_study(directions=["maximize"], sampler=make_sampler(spec.search))
    warm, _ = warm_start_params(spec)
    for params in warm:
        study.enqueue_trial(params)
    space, epochs = RatioSpace(spec), spec.train.epochs
    asha = spec.scheduler.type == "asha"
    rungs = OrderedRungs(spec.scheduler.grace_period, spec.scheduler.reduction_factor, epochs)
    runs, spent = [], 0
    for _ in range(spec.search.num_trials):
        trial = study.ask()
        config = space(trial)
        curve = trainer.curve(config["ratio"], config["seed"], epochs)
        done = epochs
        if asha:
            rungs.record(trial.number, curve)
            done = rungs.cut_at(trial.number) or epochs  # one at a time: always decided
            rungs.end(trial.number, done)
        spent += done
        trial.set_user_attr("ratio", list(config["ratio"]))
        trial.set_user_attr("seed", config["seed"])
        trial.set_user_attr("full_run", done == epochs)
        study.tell(trial, curve[done - 1])
        if done == epochs:
            runs.append(run_of(config["ratio"], config["seed"], curve[-1], trainer))
    return Searched(study, runs, spent)


def run_of(ratio, seed: int, val_acc: float, trainer: FakeTrainer) -> Run:
    return Run(dataset="synthetic", sweep="bench", study="synthetic/bench",
               ratio=tuple(ratio), seed=seed, val_acc=val_acc,
               val_size=trainer.land.val_size)


@dataclass(frozen=True)
class Outcome:
    """What one scheme named in one repetition."""

    regret: float
    ci_width: float | None
    confirm_runs: int


def answer(runs: list[Run], land: Landscape, confirm_runs: int) -> Outcome:
    best = rank(runs).best
    regret = land.truth(land.optimum) - land.truth(best.ratio)
    width = best.ci[1] - best.ci[0] if best.ci else None
    return Outcome(regret, width, confirm_runs)


def fixed(spec: SweepSpec, searched: Searched, trainer: FakeTrainer) -> Outcome:
    """The fixed scheme: the top ``top_k`` ratios, each on the ``seeds`` extra seeds."""
    plan = Confirmation.of(spec).plan(searched.study.get_trials(deepcopy=False))
    runs = [run_of(r.ratio, r.seed, trainer.curve(r.ratio, r.seed, spec.train.epochs)[-1],
                   trainer) for r in plan if r.role == "confirm"]
    return answer(searched.runs + runs, trainer.land, len(runs))


def racing(spec: SweepSpec, searched: Searched, trainer: FakeTrainer, pool: int,
           budget: int, max_seeds: int) -> Outcome:
    """The race: the top ``pool`` ratios, one seed a round, at most ``budget`` runs."""
    top = Confirmation(pool, (1,), spec.train.seed).plan(searched.study.get_trials(deepcopy=False))
    keys = [ratio_key(r.ratio) for r in top if r.role == "confirm"]
    ratios = {ratio_key(r.ratio): r.ratio for r in top}
    scores = {k: {r.seed: r.val_acc for r in searched.runs if ratio_key(r.ratio) == k}
              for k in keys}
    seeds = [spec.train.seed + i for i in range(1, max_seeds + 1)]
    finished: set = set()
    runs: list[Run] = []
    while (state := race(keys, scores, seeds, budget, 1 / trainer.land.val_size,
                         finished)).round_runs:
        for key, seed in state.round_runs:
            acc = trainer.curve(ratios[key], seed, spec.train.epochs)[-1]
            scores[key][seed] = acc
            runs.append(run_of(ratios[key], seed, acc, trainer))
            finished.add((key, seed))
    return answer(searched.runs + runs, trainer.land, len(runs))


def optimum(rng: random.Random) -> tuple[float, float, float]:
    """A point drawn uniformly on the simplex (normalized exponentials)."""
    xs = [rng.expovariate(1.0) for _ in range(3)]
    return tuple(x / sum(xs) for x in xs)  # type: ignore[return-value]


SCHEMES = {
    # name: (pool, budget in runs, most extra seeds per ratio); None: the fixed scheme.
    "fixed": None,
    "racing": (6, 12, 8),  # the fixed scheme's 12 runs, over the top 6
    "racing_2/3": (4, 8, 8),  # two thirds of its runs, over the top 4
    "racing_7/12": (4, 7, 8),  # under 60% of its runs
}


def bench_search(reps: int = 60, top_k: int = 3, seeds: int = 4) -> dict:
    """Every scheme over ``reps`` landscapes: hit rate, mean regret, median CI width."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = load_spec("digits").to_store()
    base["search"]["confirm"] = {"top_k": top_k, "seeds": seeds, "controls": False}
    outcomes: dict[str, list[Outcome]] = {name: [] for name in SCHEMES}
    search_epochs, reachable = [], []
    for rep in range(reps):
        data = {**base, "search": {**base["search"], "seed": rep}}
        spec = SweepSpec.model_validate(data)
        land = Landscape(optimum(random.Random(f"optimum/{rep}")))
        trainer = FakeTrainer(land, rep)
        searched = run_search(spec, trainer)
        search_epochs.append(searched.trial_epochs)
        # The least regret any choice among the searched ratios could have.
        tried = [t.user_attrs["ratio"] for t in searched.study.get_trials(deepcopy=False)]
        reachable.append(land.truth(land.optimum) - max(land.truth(r) for r in tried))
        for name, race_args in SCHEMES.items():
            outcome = (fixed(spec, searched, trainer) if race_args is None
                       else racing(spec, searched, trainer, *race_args))
            outcomes[name].append(outcome)
    epochs = load_spec("digits").train.epochs
    search = statistics.mean(search_epochs)
    table = {}
    for name, outs in outcomes.items():
        confirm = statistics.mean(o.confirm_runs for o in outs) * epochs
        widths = [o.ci_width for o in outs if o.ci_width is not None]
        table[name] = {
            "hit_rate": sum(o.regret <= HIT_POINTS for o in outs) / len(outs),
            "mean_regret_points": 100 * statistics.mean(o.regret for o in outs),
            "median_ci_width_points": 100 * statistics.median(widths) if widths else None,
            "confirm_trial_epochs": confirm,
            "total_trial_epochs": search + confirm,
        }
    fixed_cost = table["fixed"]["confirm_trial_epochs"]
    for row in table.values():
        row["confirm_budget_vs_fixed"] = row["confirm_trial_epochs"] / fixed_cost
    return {
        "reps": reps,
        "landscape": "f(r) = 0.985 - 0.06 |r - r*|^2, r* uniform on the simplex",
        "noise_sd_points": 100 * Landscape((1, 0, 0)).noise,
        "val_size": Landscape((1, 0, 0)).val_size,
        "search_trial_epochs": search,
        # What a perfect choice among the searched ratios would leave: the search's share.
        "mean_regret_of_best_searched_points": 100 * statistics.mean(reachable),
        "fixed": {"top_k": top_k, "seeds": seeds},
        "racing": {n: dict(zip(("pool", "budget_runs", "max_seeds"), a, strict=True))
                   for n, a in SCHEMES.items() if a},
        "schemes": table,
        # The price of rung decisions in trial order, on the digits spec's search stage.
        "rung_order": rung_order_price(),
    }


def search_table(result: dict):
    """The benchmark as a table, one row per scheme."""
    from rich.table import Table

    table = Table(title=f"search benchmark: {result['reps']} synthetic landscapes, seed SD "
                        f"{result['noise_sd_points']:.1f} points, {result['val_size']} images")
    for column in ("scheme", "confirm trial-epochs", "vs fixed", "hit ≤ 0.5 pt",
                   "mean regret (pt)", "median CI width (pt)"):
        table.add_column(column)
    for name, row in result["schemes"].items():
        width = row["median_ci_width_points"]
        table.add_row(name, f"{row['confirm_trial_epochs']:.0f}",
                      f"{row['confirm_budget_vs_fixed']:.2f}", f"{row['hit_rate']:.2f}",
                      f"{row['mean_regret_points']:.3f}",
                      "—" if width is None else f"{width:.2f}")
    return table


def rung_table(result: dict):
    """Async ASHA against rung decisions in trial order, as a table."""
    from rich.table import Table

    r = result["rung_order"]
    table = Table(title=f"rung decisions: {r['reps']} result sets × {r['timings_per_rep']} "
                        f"timings, {r['slots']} slots")
    for column in ("decisions", "cut sets per result set (mean, max)", "idle slot share",
                   "trial-epochs"):
        table.add_column(column)
    for name in ("async", "ordered"):
        row = r[name]
        table.add_row(name, f"{row['mean_distinct_cut_sets']:.1f}, "
                            f"{row['max_distinct_cut_sets']}",
                      f"{100 * row['idle_slot_share']:.1f}%", f"{row['trial_epochs']:.1f}")
    return table


def timed_search(curves: list[list[float]], epoch_seconds: list[list[float]], slots: int,
                 spec: SweepSpec, ordered: bool) -> dict:
    """The search stage's trials on ``slots`` slots in simulated time: which are cut, the
    slot time left idle, the epochs trained. Trials start in number order; each epoch of
    trial ``k`` takes ``epoch_seconds[k][e]``. ``ordered``: the rung decisions of
    ``OrderedASHA`` (train on while waiting, paused at the last epoch but one); else Ray's
    own ``ASHAScheduler``, deciding as results arrive."""
    from types import SimpleNamespace

    from ray.tune.schedulers import ASHAScheduler

    s, epochs = spec.scheduler, spec.train.epochs
    asha = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=epochs,
                         grace_period=s.grace_period, reduction_factor=s.reduction_factor)
    rungs = OrderedRungs(s.grace_period, s.reduction_factor, epochs)
    handles = [SimpleNamespace(trial_id=str(k), config={}) for k in range(len(curves))]
    for k, h in enumerate(handles):
        asha.on_trial_add(None, h)
        rungs.add(k)
    queue, running, paused = list(range(len(curves))), {}, set()
    done_epochs = [0] * len(curves)
    cut, now, busy = set(), 0.0, 0.0

    def start_free_slots() -> None:
        while len(running) < slots and queue:
            k = queue.pop(0)
            running[k] = now + epoch_seconds[k][done_epochs[k]]

    def finish(k: int, stopped: bool) -> None:
        rungs.end(k, done_epochs[k])
        if stopped:
            cut.add(k)

    start_free_slots()
    while running:
        k = min(running, key=running.get)
        now = running.pop(k)
        done_epochs[k] += 1
        e = done_epochs[k]
        busy += epoch_seconds[k][e - 1]
        rungs.record(k, curves[k][:e])
        if ordered:
            decision = rungs.decide(k)
            for j in sorted(paused):
                if (d := rungs.decide(j)) != WAIT:
                    paused.discard(j)
                    if d == STOP:
                        finish(j, True)
                    else:
                        queue.insert(0, j)
            if decision == STOP:
                finish(k, True)
            elif e >= epochs:
                finish(k, False)
            elif decision == WAIT and e >= epochs - 1:
                paused.add(k)
            else:
                running[k] = now + epoch_seconds[k][e]
        else:
            result = {"epoch": e, "val_acc": curves[k][e - 1]}
            if asha.on_trial_result(None, handles[k], result) == "STOP" and e < epochs:
                finish(k, True)
            elif e >= epochs:
                finish(k, False)
            else:
                running[k] = now + epoch_seconds[k][e]
        start_free_slots()
    return {"cut": sorted(cut), "idle_share": 1 - busy / (slots * now),
            "wall": now, "epochs": sum(done_epochs)}


def rung_order_price(reps: int = 10, draws: int = 10, slots: int = 2) -> dict:
    """Async ASHA against ordered rungs on the same results, over ``draws`` timings each:
    how many different cut sets the timings produce, and the slot time left idle."""
    base = load_spec("digits")
    out = {"async": {"distinct_cut_sets": [], "idle_share": [], "epochs": []},
           "ordered": {"distinct_cut_sets": [], "idle_share": [], "epochs": []}}
    for rep in range(reps):
        land = Landscape(optimum(random.Random(f"optimum/{rep}")))
        trainer = FakeTrainer(land, rep)
        rng = random.Random(f"ratios/{rep}")
        ratios = [optimum(rng) for _ in range(base.search.num_trials)]
        curves = [trainer.curve(r, base.train.seed, base.train.epochs) for r in ratios]
        for name, ordered in (("async", False), ("ordered", True)):
            cuts, idle, epochs = set(), [], []
            for draw in range(draws):
                timing = random.Random(f"timing/{rep}/{draw}")
                # Per trial a speed (its ratio's cost, the machine's load) and per-epoch jitter.
                seconds = [[speed * timing.lognormvariate(0, 0.1) for _ in range(base.train.epochs)]
                           for speed in (timing.lognormvariate(0, 0.3) for _ in curves)]
                r = timed_search(curves, seconds, slots, base, ordered)
                cuts.add(tuple(r["cut"]))
                idle.append(r["idle_share"])
                epochs.append(r["epochs"])
            out[name]["distinct_cut_sets"].append(len(cuts))
            out[name]["idle_share"].append(statistics.mean(idle))
            out[name]["epochs"].append(statistics.mean(epochs))
    return {
        name: {
            "mean_distinct_cut_sets": statistics.mean(v["distinct_cut_sets"]),
            "max_distinct_cut_sets": max(v["distinct_cut_sets"]),
            "idle_slot_share": statistics.mean(v["idle_share"]),
            "trial_epochs": statistics.mean(v["epochs"]),
        }
        for name, v in out.items()
    } | {"reps": reps, "timings_per_rep": draws, "slots": slots}
