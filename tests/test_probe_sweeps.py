"""The linear probe in sweeps: from ``train.probe`` in a spec through a trial's final report
into the store, and out again in ``stdp_effect``, ``biril best --json``, the summary and
the report (probe surface, top-ratios columns).

The expected probe effect is SciPy's paired t-test (``ttest_rel``) of the hand-made probe
accuracies; the expected means are plain means of the numbers written into the store.
"""

from __future__ import annotations

from statistics import mean
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import yaml
from scipy import stats
from test_analysis import Run, sqlite_root, write_sweep
from test_answer import answers

import analysis
from results.schema import PROBE_KEYS, PROBE_POOLS, TRIAL_ATTRS
from sweeps import parse_spec
from sweeps.spec import load_spec, spec_path

R141, STBP, R100, R183, R001 = (1, 4, 1), (0, 1, 0), (1, 0, 0), (1, 8, 3), (0, 0, 1)
FROZEN = {"stdp_lr": 0}
# 1:4:1 and its frozen control on seeds 0-3; the control's seed 3 predates the probe.
STDP_COUNTS, CONTROL_COUNTS = [140, 141, 142, 141], [138, 140, 141, 139]
STDP_PROBE = {"gap": [0.70, 0.72, 0.69, 0.71], "pool4": [0.93, 0.94, 0.92, 0.95]}
CONTROL_PROBE = {"gap": [0.60, 0.63, 0.62], "pool4": [0.92, 0.92, 0.91]}


def probes(values: dict[str, list[float]], seed: int) -> dict[str, float] | None:
    if seed >= len(values["gap"]):
        return None
    return {pool: values[pool][seed] for pool in PROBE_POOLS}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root, url = sqlite_root(tmp_path_factory.mktemp("probe"))
    runs = [
        *(Run(R141, c / 144, seed=s, test=0.97, val_size=144, stage="confirm",
              role="search" if s == 0 else "confirm", probe=probes(STDP_PROBE, s))
          for s, c in enumerate(STDP_COUNTS)),
        *(Run(R141, c / 144, seed=s, test=0.96, val_size=144, stage="confirm",
              role="stdp_control", overrides=FROZEN, probe=probes(CONTROL_PROBE, s))
          for s, c in enumerate(CONTROL_COUNTS)),
        *(Run(STBP, c / 144, seed=s, test=0.9, val_size=144, probe={"gap": 0.5, "pool4": 0.9})
          for s, c in enumerate([130, 131, 129])),
        Run(R100, 90 / 144, seed=0, test=0.6, val_size=144, probe={"gap": 0.8, "pool4": 0.96}),
        Run(R183, 135 / 144, seed=0, test=0.93, val_size=144, probe={"gap": 0.65, "pool4": 0.93}),
        Run(R001, 120 / 144, seed=0, test=0.8, val_size=144),  # a run without the probe
    ]
    write_sweep(url, "digits", "labels", runs, root=root)
    write_sweep(url, "mnist", "plain", [
        Run(R183, c / 5000, seed=s, test=0.98, val_size=5000) for s, c in enumerate([4951, 4955])
    ], root=root)
    return root, url


def expected_probe_effect(pool: str) -> tuple[float, tuple[float, float]]:
    a, b = STDP_PROBE[pool][:3], CONTROL_PROBE[pool]
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    return mean(a) - mean(b), (ci.low, ci.high)


def test_the_probes_effect_is_the_paired_t_interval_and_the_best_carries_its_means(
    store, tmp_path
):
    summary, api, cli, page = answers(store, "digits", "labels", tmp_path)
    assert api.ratio_int == "1:4:1" and api.seeds == [0, 1, 2, 3]
    means = {pool: mean(STDP_PROBE[pool]) for pool in PROBE_POOLS}
    assert api.probe == pytest.approx(means) and cli["probe"] == pytest.approx(means)
    effect = api.stdp_effect
    assert effect.n == 4  # accuracy pairs all four seeds; the probe only the three
    for pool in PROBE_POOLS:
        diff, ci = expected_probe_effect(pool)
        probe = effect.probe[pool]
        assert (probe.n, probe.diff, probe.ci) == (3, pytest.approx(diff), pytest.approx(ci))
        assert cli["stdp_effect"]["probe"][pool] == {
            "diff": probe.diff, "ci": list(probe.ci), "n": 3
        }
    assert summary.best == api
    text = summary.render()
    assert (f"probe        gap {100 * means['gap']:.2f}%, pool4 {100 * means['pool4']:.2f}% "
            "(linear probe of the last block, mean over seeds)") in text
    diff, (low, high) = expected_probe_effect("gap")
    words = f"; linear probe: gap {100 * diff:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], pool4"
    assert words in text and words in page
    # The report's table of STDP against its control: the probe's effects beside accuracy's.
    cells = ", ".join(
        f"{pool} {100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] (n 3)"
        for pool, (d, (lo, hi)) in ((p, expected_probe_effect(p)) for p in PROBE_POOLS)
    )
    assert f"<td>{cells}</td></tr>" in page


def test_the_report_draws_the_probe_surface_and_the_probe_columns(store, tmp_path):
    *_, page = answers(store, "digits", "labels", tmp_path)
    assert "What the features hold: a linear probe of the last block" in page
    assert 'id="probe-surface-digits"' in page
    # 1:4:1's 4 seeds, 0:1:0's 3, one each of 1:0:0 and 1:8:3; 0:0:1 fitted no probe and
    # the frozen controls are not on the simplex.
    assert ("Probe surface (pool4) fitted on per-ratio means (seeds pooled): 4 ratios from "
            "9 runs") in page
    top = page[page.index("<h3>Top ratios</h3>"):page.index("<h3>STDP against")]
    assert "<th>probe gap (mean)</th><th>probe pool4 (mean)</th>" in top
    gap, pool4 = mean(STDP_PROBE["gap"]), mean(STDP_PROBE["pool4"])
    assert f"<td>0.9700</td><td>{gap:.4f}</td><td>{pool4:.4f}</td>" in top  # test, probes
    assert "<td>0.8000</td><td>—</td><td>—</td>" in top  # 0:0:1 fitted none


def test_the_probe_surface_is_fitted_on_the_probe_and_the_menu_switches_pooling(store):
    from analysis.probe import probe_surface_figure, probe_surfaces

    trials = analysis.load_trials(store[0], dataset="digits")
    trials = trials[~trials["overrides"].map(bool)]
    surfaces, _ = probe_surfaces(trials, np.zeros(len(trials), dtype=int))
    assert set(surfaces) == {"gap", "pool4"}
    # Pure STDP reads 0.96 with a pool4 probe but 62.5% with its head: the surface follows
    # the probe.
    estimate, _ = surfaces["pool4"].estimate([[1, 0, 0]])
    assert estimate[0] > 0.9
    figure = probe_surface_figure(trials, None, surfaces, "t")
    heats = {t.name: t for t in figure.data if t.name and t.name.startswith("probe ")}
    assert heats["probe pool4"].visible is True and heats["probe gap"].visible is False
    (menu,) = figure.layout.updatemenus
    assert [b.label for b in menu.buttons] == ["probe pool4", "probe gap"]
    index = [t.name for t in figure.data].index("probe gap")
    shows_gap = menu.buttons[1].args[0]["visible"]
    assert shows_gap[index] and not shows_gap[index - 1] and all(shows_gap[index + 1:])


def test_a_store_without_probes_says_nothing_about_them(store, tmp_path):
    summary, api, cli, page = answers(store, "mnist", "plain", tmp_path)
    assert api.probe == {} and cli["probe"] == {}
    assert "probe        " not in summary.render()
    assert "linear probe" not in page and "probe gap (mean)" not in page


def test_the_stores_probe_keys_are_the_trainers():
    from biril.probe import POOLS

    assert tuple(POOLS) == PROBE_POOLS
    assert set(PROBE_KEYS.values()) <= set(TRIAL_ATTRS)


def test_the_few_label_spec_asks_for_ten_percent_of_digits_labels_and_the_probe():
    spec = load_spec("digits_labels")
    from biril.datasets import REGISTRY, data_root
    from biril.datasets.inventory import counts

    n_train = counts(REGISTRY["digits"], data_root(None), spec.train.val_fraction)["n_train"]
    # 10% of the training split, 13 labelled images of each of the 10 classes.
    assert (n_train, spec.train.labeled) == (1294, 130)
    assert spec.train.probe and spec.train.dataset == "digits"
    assert spec.search.confirm.controls and spec.scheduler.type == "asha"
    assert spec.num_trials <= 24
    # ASHA's first cut comes after the STDP phase.
    assert spec.scheduler.grace_period >= spec.train.stdp_until * spec.train.epochs


def test_a_trial_of_a_probe_spec_reports_the_probe_into_the_store(tmp_path, monkeypatch):
    """One real (1-epoch) trial of the few-label spec, its Tune calls replaced by hand:
    the searcher suggests it, ``train_trial`` trains it and reports, the searcher writes
    its attributes; the probe in the store is the trainer's."""
    from sweeps import trainable
    from sweeps.runner import param_space
    from sweeps.searcher import RatioSearch
    from sweeps.space import warm_start_params

    data = yaml.safe_load(spec_path("digits_labels").read_text())
    data["train"].update(epochs=1, device="cpu")
    data["scheduler"].update(grace_period=1)
    spec = parse_spec(data)
    url = f"sqlite:///{tmp_path}/biril.db"
    searcher = RatioSearch(spec, optuna.storages.RDBStorage(url), "/r/digits/labels",
                           warm_start_params(spec)[0])
    reports, results = [], []
    monkeypatch.setattr(trainable.tune, "report", lambda r, checkpoint: reports.append(r))
    monkeypatch.setattr(trainable.tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(trainable.tune, "Checkpoint", SimpleNamespace(from_directory=str))
    monkeypatch.setattr(trainable.ray, "get_gpu_ids", lambda: [])
    monkeypatch.setattr(trainable.ray, "get_runtime_context",
                        lambda: SimpleNamespace(get_node_id=lambda: "node-0"))
    real_train = trainable.train

    def train(config, callback):
        results.append(real_train(config, callback=callback))
        return results[-1]

    monkeypatch.setattr(trainable, "train", train)
    trainable.train_trial({**param_space(spec, 0.0), **searcher.suggest("t1")})
    (result,), (final,) = results, reports
    assert set(result.probe) == set(PROBE_POOLS)
    searcher.on_trial_complete("t1", {**final, "trial_id": "t1"})
    study = optuna.load_study(study_name="digits/labels", storage=url)
    (trial,) = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert trial.user_attrs["full_run"] is True
    assert {pool: trial.user_attrs[key] for pool, key in PROBE_KEYS.items()} == result.probe


def test_an_early_stopped_trial_stores_no_probe(tmp_path):
    from test_sweeps_searcher import make_spec, new_searcher, result

    url = f"sqlite:///{tmp_path}/biril.db"
    searcher = new_searcher(make_spec(), url)
    searcher.suggest("t1")
    searcher.suggest("t2")
    probe = {key: 0.8 for key in PROBE_KEYS.values()}
    searcher.on_trial_complete("t1", {**result("t1", 0.9), **probe})
    searcher.on_trial_complete("t2", {**result("t2", 0.5, epoch=1), **probe})  # cut by ASHA
    full, stopped = optuna.load_study(study_name="digits/unit", storage=url).trials
    assert all(full.user_attrs[key] == 0.8 for key in PROBE_KEYS.values())
    assert not set(PROBE_KEYS.values()) & set(stopped.user_attrs)
