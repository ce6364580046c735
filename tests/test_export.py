"""`biril report --figures DIR`: SVG and PDF figures and the top-ratio table (CSV, LaTeX) of
a hand-made two-objective store; files never overwritten unasked; a clear error without a
browser. The figure tests need kaleido and a Chrome/Chromium (`.ci/setup-browser.sh`)."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from click.testing import CliRunner
from test_energy_analysis import write_energy_sweep

from birilcli.main import cli


def has_browser() -> bool:
    if importlib.util.find_spec("kaleido") is None:
        return False
    from choreographer.browsers.chromium import Chromium

    return Chromium.find_browser(skip_local=False) is not None


needs_browser = pytest.mark.skipif(not has_browser(), reason="no kaleido or no Chromium")


@pytest.fixture
def store(tmp_path) -> str:
    write_energy_sweep(f"sqlite:///{tmp_path}/biril.db")
    return str(tmp_path)


@needs_browser
def test_figures_folder_holds_svg_pdf_csv_and_tex(store, tmp_path):
    out = tmp_path / "paper"
    args = ["report", "--storage", store, "-o", str(tmp_path / "r.html"), "--figures", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"digits-{fig}.{fmt}" for fig in ("surface", "timeline", "pareto")
                            for fmt in ("svg", "pdf")]
                           + ["digits-top-ratios.csv", "digits-top-ratios.tex"])
    assert (out / "digits-surface.pdf").read_bytes().startswith(b"%PDF")
    svg = (out / "digits-pareto.svg").read_text()
    assert svg.startswith("<svg") and "Pareto front (3 runs)" in svg
    assert "paper's ratios" in (out / "digits-surface.svg").read_text()

    table = pd.read_csv(out / "digits-top-ratios.csv")
    # By hand: one seed each, so ranked by accuracy; the stopped-early 0:0:1 is left out.
    assert table["ratio"].tolist() == ["0:1:0", "1:8:3", "1:6:2", "2:6:1", "1:0:0"]
    assert table["val acc"].tolist() == pytest.approx([0.97, 0.96, 0.95, 0.90, 0.50])
    assert table["seeds"].tolist() == [1] * 5 and table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table.loc[1, ["STDP", "STBP", "STDP-STBP"]].tolist() == pytest.approx(
        [1 / 12, 8 / 12, 3 / 12], abs=1e-4)  # written to 4 decimals
    tex = (out / "digits-top-ratios.tex").read_text()
    assert r"\begin{tabular}" in tex and "1 & 0:1:0 & 97.00 & 1 &" in tex

    page = (tmp_path / "r.html").read_text()
    assert "in 1 sweep:" in page and "1 sweeps" not in page

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "digits-surface.svg exists" in again.stderr
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_no_browser_is_one_clear_error_before_any_file(store, tmp_path, monkeypatch):
    pytest.importorskip("kaleido")
    from choreographer.browsers.chromium import Chromium

    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(Chromium, "find_browser", classmethod(lambda cls, **kw: None))
    out = tmp_path / "paper"
    result = CliRunner().invoke(cli, ["report", "--storage", store, "-o",
                                      str(tmp_path / "r.html"), "--figures", str(out)])
    assert result.exit_code == 2
    assert "kaleido found no Chrome or Chromium" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists() and not (tmp_path / "r.html").exists()
