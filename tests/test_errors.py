"""Every mistake a user can make is one ``error:`` line and exit status 2, in a fresh process.

Each case runs ``python -m birilcli`` anew, so nothing imported by an earlier case can help
(the old CLI mapped an error to one line only if its module happened to be loaded already).
The stores are written the way ``biril sweep`` writes them, then damaged by hand.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from test_analysis import Run, sqlite_root, write_sweep

from results.errors import QUOTE_LIMIT, UserError, printable, quote

REPO = Path(__file__).resolve().parents[1]
ESC = "\x1b"


def biril(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "birilcli", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a run that exits 2, printing nothing else."""
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-3000:]
    assert r.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, str]:
    """A good store (digits, and an mnist study with no trial), and a tampered one."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = tmp_path_factory.mktemp("stores")
    (base / "good").mkdir()
    good, url = sqlite_root(base / "good")
    runs = [Run((1, 8, 3), 0.9 + s / 100, seed=s, test=0.9, val_size=144,
                stage="search" if s == 0 else "confirm") for s in range(3)]
    write_sweep(url, "digits", "laptop", runs, root=good)
    empty = optuna.create_study(storage=url, study_name="mnist/empty")
    empty.set_user_attr("dataset", "mnist")
    empty.set_user_attr("sweep", "empty")
    (base / "tampered").mkdir()
    tampered, url = sqlite_root(base / "tampered")
    write_sweep(url, "digits", f"x{ESC}[31m\nforged", runs, root=tampered)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as c:  # trial #1's ratio: JSON cut short
        c.execute(sqlalchemy.text(
            "UPDATE trial_user_attributes SET value_json = '[0.1, 0.8' WHERE key = 'ratio' "
            "AND trial_id = (SELECT trial_id FROM trials WHERE number = 1)"
        ))
    engine.dispose()
    return {"good": good, "tampered": tampered, "base": str(base)}


BEST_CASES = {
    "missing store dir": (["--storage", "/missing"], "no results store at /missing"),
    "sqlite file in a missing dir": (
        ["--storage", "sqlite:////nonexistent/x.db"], "cannot read sqlite:////nonexistent/x.db"
    ),
    "mysql URL": (["--storage", "mysql://u:secret@localhost/x"], "mysql://u:***@localhost/x"),
    "http URL": (["--storage", "http://example.com/x"], "http://example.com/x"),
    "unknown dataset": (["--dataset", "no_such_set", "--storage", "{good}"], "no_such_set"),
    "dataset the store lacks": (["--dataset", "cifar10", "--storage", "{good}"], "cifar10"),
    "empty study": (["--dataset", "mnist", "--storage", "{good}"], "'mnist' has no full run"),
    "energy budget without energy": (
        ["--storage", "{good}", "--max-energy", "1"], "no full run with an energy measurement"
    ),
    "energy budget nan": (["--storage", "{good}", "--max-energy", "nan"], "--max-energy"),
    "malformed JSON in a trial attribute": (
        ["--storage", "{tampered}"], "trial #1 of study digits/x\\x1b[31m\\nforged: user "
        "attribute 'ratio' holds malformed JSON"
    ),
}


@pytest.mark.parametrize("case", list(BEST_CASES))
def test_every_mistake_biril_best_can_meet_is_one_line(stores, case):
    args, expected = BEST_CASES[case]
    args = [a.format(**stores) for a in args]
    if "--dataset" not in args:
        args = ["--dataset", "digits", *args]
    line = one_error_line(biril("best", *args))
    assert expected in line
    assert "secret" not in line and ESC not in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    (tmp / "a-file").write_text("")
    return {
        "train": (["train", "--ratio", "1:2"], "--ratio: expected three parts STDP:STBP:"
                  "STDP-STBP like 1:8:3, got '1:2'"),
        "train --config": (["train", "--config", str(tmp / "none.yaml")], "none.yaml"),
        "sweep": (["sweep", str(tmp / "none.yaml")], "spec file not found"),
        "best": (["best", "--dataset", "digits", "--storage", "/missing"], "/missing"),
        "report": (["report", "--storage", "/missing", "-o", str(tmp / "r.html")], "/missing"),
        "datasets": (["datasets", "--data-root", str(tmp / "a-file")], "not a folder"),
        "doctor": (["doctor", "--smoke", "--address", nobody], "--smoke runs here"),
        "bench": (["bench", "--only", "nosuch"], "--only: unknown section 'nosuch'"),
        "cluster up": (["cluster", "up", "--workers", "0"], "--workers"),
        "cluster status": (["cluster", "status", "--address", nobody], "cannot reach"),
        "submit": (["submit", "digits", "--db", "not a url", "--address", nobody],
                   "--db is not an SQLAlchemy URL"),
        "jobs list": (["jobs", "list", "--address", nobody], "cannot reach"),
        "jobs stop": (["jobs", "stop", "some-job", "--address", nobody], "cannot reach"),
        "no such command": (["trian"], "No such command 'trian'"),
    }


@pytest.mark.parametrize("case", list(command_cases(Path("/tmp"))))
def test_one_mistake_of_every_command_is_one_line(tmp_path, case):
    args, expected = command_cases(tmp_path)[case]
    assert expected in one_error_line(biril(*args, cwd=tmp_path))


def test_a_store_name_with_control_characters_is_printed_escaped(stores, tmp_path):
    root, url = sqlite_root(tmp_path)
    runs = [Run((1, 8, 3), 0.9 + s / 100, seed=s, test=0.9, val_size=144) for s in range(2)]
    write_sweep(url, "digits", f"y{ESC}]0;owned\a\nz", runs, root=root)
    r = biril("best", "--dataset", "digits", "--storage", root)
    assert r.returncode == 0, r.stderr
    assert ESC not in r.stdout and "\a" not in r.stdout
    assert "digits/y\\x1b]0;owned\\x07\\nz" in r.stdout


def test_every_package_user_error_is_one_type():
    from biril import CheckpointError, ConfigError, DivergenceError, RatioError
    from biril.datasets.registry import DatasetError
    from cluster.errors import ClusterError
    from results.database import DatabaseError
    from results.errors import StoreError
    from sweeps.spec import SpecError, SweepError

    for error in (CheckpointError, ConfigError, DivergenceError, RatioError, DatasetError,
                  ClusterError, DatabaseError, StoreError, SpecError, SweepError):
        assert issubclass(error, UserError), error


def test_no_error_is_looked_up_by_module_name():
    for path in (REPO / "birilcli").glob("*.py"):
        assert "sys.modules" not in path.read_text(), path


def test_quote_caps_user_input_and_escapes_control_characters():
    long = quote("a" * 5000)
    assert len(long) <= QUOTE_LIMIT and long.startswith("'aaa") and "..." in long
    bomb = [["x" * 100] * 1000] * 1000  # an expanded YAML alias bomb, a million strings
    assert len(quote(bomb)) <= QUOTE_LIMIT
    assert quote("1:2") == "'1:2'"
    assert printable(f"a{ESC}[2J\nb\tc") == "a\\x1b[2J\\nb\\tc"
    assert printable("ratio 1:8:3 — über") == "ratio 1:8:3 — über"
