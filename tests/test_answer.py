"""One answer everywhere: the sweep summary, ``biril best --json``, ``analysis.best_ratio``
and the report's headline give the same ratio, seeds, interval and comparisons.

Hand-made stores whose answer is known (written the way ``biril sweep`` writes them):
the issue's lucky one-seed ratio against a confirmed one, and two ratios that cannot be
told apart.
"""

from __future__ import annotations

import html
import json

import optuna
import pytest
from click.testing import CliRunner
from test_analysis import Run, sqlite_root, write_sweep

import analysis
from birilcli.report import best_command
from sweeps.summary import summarize

R381, STBP, R001, R162 = (3, 8, 1), (0, 1, 0), (0, 0, 1), (1, 6, 2)


def confirmed(ratio, counts, val_size, stage_from=1) -> list[Run]:
    """One full run per seed, ``counts`` correct images out of ``val_size``."""
    return [
        Run(ratio, c / val_size, seed=seed, test=0.98, val_size=val_size,
            stage="search" if seed < stage_from else "confirm")
        for seed, c in enumerate(counts)
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root, url = sqlite_root(tmp_path_factory.mktemp("answer"))
    # digits: 3:8:1 confirmed on 3 seeds, pure STBP on the same 3, 0:0:1 lucky once.
    write_sweep(url, "digits", "laptop", [
        *confirmed(R381, [142, 141, 143], 144),
        *confirmed(STBP, [141, 140, 142], 144),
        Run(R001, 143 / 144, seed=0, test=0.99, val_size=144),
    ], root=root)
    # mnist: 1:6:2 and 0:1:0 three seeds each, 2 images apart in 5000 on average.
    write_sweep(url, "mnist", "quick", [
        *confirmed(R162, [4951, 4955, 4957], 5000),
        *confirmed(STBP, [4950, 4953, 4954], 5000),
    ], root=root)
    return root, url


def answers(store, dataset: str, sweep: str, tmp_path) -> tuple:
    root, url = store
    study = optuna.load_study(study_name=f"{dataset}/{sweep}", storage=url)
    summary = summarize(study, storage_url=url, results_dir="r", expected_search=1,
                        wall_seconds=1.0)
    api = analysis.best_ratio(dataset, storage=root)
    out = CliRunner().invoke(best_command, ["--dataset", dataset, "--storage", root, "--json"])
    assert out.exit_code == 0, out.output
    page = analysis.write_report(root, dataset=dataset, output=tmp_path / "r.html").read_text()
    return summary, api, json.loads(out.output), page


def headline_of(best) -> str:
    """What the report's headline must say, built from the API's answer."""
    low, high = best.ci
    peers = ", ".join(f"{p.ratio_int} (p {p.p:.2f})" for p in best.indistinguishable)
    return (
        f"<b>Best ratio {best.ratio_int}</b> ({', '.join(f'{x:.3f}' for x in best.ratio)}): "
        f"val acc {best.val_acc:.4f} [{low:.4f}, {high:.4f}] over "
        f"{best.n_seeds} seeds on {best.val_size} validation images, "
        f"test acc {best.test_acc:.4f}, sweep {best.sweep}.<br>"
        f"Cannot be told apart from it (95%): {html.escape(peers or 'none')}.<br>"
        f"Against pure STBP: {html.escape(best.verdict)}.</p>"
    )


def test_the_confirmed_ratio_beats_the_lucky_run_in_every_answer(store, tmp_path):
    summary, api, cli, page = answers(store, "digits", "laptop", tmp_path)
    assert api.ratio_int == "3:8:1" and api.n_seeds == 3 and api.val_size == 144
    assert {p.ratio_int for p in api.indistinguishable} == {"0:0:1", "0:1:0"}
    assert api.verdict.startswith("nothing is distinguishable from pure STBP 0:1:0")
    assert summary.best == api
    # best --json adds the sweep's code and compute (results.provenance, results.compute);
    # this hand-made study recorded neither.
    assert cli.pop("provenance") is None and cli.pop("compute") is None
    assert cli == api.model_dump(mode="json")
    assert headline_of(api) in page
    # The "Top ratios" table ranks by the same rule: the lucky 0:0:1 below 3:8:1.
    top = page[page.index("<h3>Top ratios</h3>"):]
    assert top.index("<td>3:8:1</td>") < top.index("<td>0:0:1</td>")
    assert "<td>0:0:1</td><td>0.000, 0.000, 1.000</td><td>laptop</td><td>1</td>" in top


def test_two_ratios_that_cannot_be_told_apart_are_listed_the_same_everywhere(store, tmp_path):
    summary, api, cli, page = answers(store, "mnist", "quick", tmp_path)
    assert api.ratio_int == "1:6:2"
    assert [(p.ratio_int, p.n_seeds) for p in api.indistinguishable] == [("0:1:0", 3)]
    assert api.vs_stbp.p >= 0.05 and api.vs_stbp.ci[0] < 0 < api.vs_stbp.ci[1]
    assert summary.best == api
    assert cli["indistinguishable"] == [p.model_dump(mode="json") for p in api.indistinguishable]
    assert cli["vs_stbp"] == api.vs_stbp.model_dump(mode="json")
    assert headline_of(api) in page
    assert "tied (p " in page
