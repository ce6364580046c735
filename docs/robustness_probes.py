"""Run the probes of issue 22 against one ``biril`` and print a Markdown table of outcomes.

    python docs/robustness_probes.py /path/to/.venv/bin/biril [--concurrent] > probes.md

``--concurrent`` adds the probes that train for real (two trains into one folder, two
sweeps on one study, Ctrl-C on a sweep): minutes each on an idle machine. The store the
``best``/``report`` probes read is a synthetic one (``analysis.synthetic``, 40 trials).

Each probe runs in a fresh temporary folder; the table gives its exit code, the lines it
printed (stdout and stderr together), its last line, and what is on disk afterwards.
Memory-hungry probes run under ``ulimit -v`` (16 GiB) and every probe under a timeout, so
an old build that reads ``/dev/zero`` forever cannot take the machine with it. Runs as
root: the read-only-folder probe runs its command as ``nobody`` (``setpriv``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIRIL = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--concurrent" else "biril"
PY = str(Path(BIRIL).with_name("python"))
LIMIT_KB = 16 * 2**20
TINY = """name: tiny
train: {dataset: digits, epochs: 1, device: cpu}
search: {warm_start: ["1:8:3", "0:1:0"], num_trials: 2}
scheduler: {type: none}
resources: {cpus_per_trial: 1, max_concurrent: 1}
failure: {max_failures: 0}
"""
BOMB = "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
) + "epochs: *i\n"
ROWS: list[str] = []


def run(args, cwd, timeout=600, env=None, limit=True, user=None):
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if user else []
    cmd = " ".join(f"'{a}'" for a in [*prefix, BIRIL, *args])
    shell = f"ulimit -v {LIMIT_KB}; exec {cmd}" if limit else f"exec {cmd}"
    started = time.monotonic()
    try:
        r = subprocess.run(["bash", "-c", shell], cwd=cwd, capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, **(env or {})},
                           errors="replace")
        rc, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        rc = f"killed at {timeout} s"
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(
            errors="replace")
    return rc, out, time.monotonic() - started


INPUTS = ("spec.yaml", "bomb.yaml", "c.yaml", "rw.db")


def disk(folder: Path) -> str:
    """The files a probe left (its own inputs left out), at most six named."""
    names = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*")
        if (p.is_file() or p.is_dir() and p.name == "checkpoint.pt")
        and p.name not in INPUTS and "data" not in p.parts
    )
    more = f" (+{len(names) - 6} more)" if len(names) > 6 else ""
    return ", ".join(names[:6]) + more if names else "nothing"


def last(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text[:150].replace("|", "\\|").replace("`", "'")


def row(probe: str, command: str, rc, out: str, seconds: float, on_disk: str) -> None:
    n = len([line for line in out.splitlines() if line.strip()])
    ROWS.append(
        f"| {probe} | `{command}` | {rc} | {n} | {seconds:.0f} s | {last(out)} | {on_disk} |"
    )
    print(ROWS[-1], flush=True)


def simple(probe: str, args: list[str], setup=None, shown=None, **kw) -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if setup:
            setup(d)
        rc, out, s = run(args, d, **kw)
        row(probe, shown or "biril " + " ".join(args), rc, out, s, disk(d))


def two_trains() -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        a = subprocess.Popen([BIRIL, "train", "--seed", "1", "--epochs", "2", "--output-dir",
                              "runs/a"], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(15)
        rc, out, s = run(["train", "--seed", "2", "--epochs", "2", "--output-dir", "runs/a"], d)
        a_out, a_err = a.communicate()
        seed = subprocess.run(
            [PY, "-c", "import torch,sys; s=torch.load(sys.argv[1], weights_only=True); "
             "print(s['config']['seed'])", str(d / "runs/a/checkpoint.pt")],
            capture_output=True, text=True).stdout.strip()
        row("two trains, one folder (second, 15 s later)",
            "biril train --seed 1 --output-dir runs/a & biril train --seed 2 --output-dir runs/a",
            f"{rc} (first: {a.returncode})", out, s,
            f"checkpoint holds seed {seed}; {disk(d)}")


def trial_states(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        states = con.execute("select state, count(*) from trials group by state").fetchall()
    finally:
        con.close()
    return " ".join(f"{s}:{n}" for s, n in states)


def two_sweeps(d: Path) -> None:
    (d / "spec.yaml").write_text(TINY)
    args = ["sweep", "spec.yaml", "--storage", "st", "--report", "none"]
    a = subprocess.Popen([BIRIL, *args], cwd=d, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    rc, out, s = run(args, d, timeout=900)
    a.communicate()
    states = list((d / "st/digits/tiny").glob("experiment_state*"))
    row("two sweeps, one study (second 4 s later)",
        "biril sweep spec.yaml --storage st --name x (twice)", f"{rc} (first: {a.returncode})",
        out, s, f"trials {trial_states(d / 'st/biril.db')}; {len(states)} experiment_state")


def ctrl_c_sweep() -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "spec.yaml").write_text(TINY)
        p = subprocess.Popen([BIRIL, "sweep", "spec.yaml", "--storage", "st", "--report",
                              "none"], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(30)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
        row("Ctrl-C on a sweep (SIGINT at 30 s)", "biril sweep spec.yaml ... ^C",
            p.returncode, out + err, 30, f"trials {trial_states(d / 'st/biril.db')}")


def store_probes(d: Path) -> None:
    """``biril best``/``report`` on a synthetic store, and tampered copies of it."""
    (d / "st").mkdir()
    subprocess.run([PY, "-c", "import sys; from analysis.synthetic import write_store; "
                    "write_store(f'sqlite:///{sys.argv[1]}/biril.db', 40)", str(d / "st")],
                   check=True, capture_output=True)
    st = str(d / "st")
    simple("best: missing store", ["best", "--dataset", "digits", "--storage", "/missing"])
    simple("best: sqlite file in a missing folder",
           ["best", "--dataset", "digits", "--storage", "sqlite:////nonexistent/x.db"])
    simple("best: mysql URL", ["best", "--dataset", "digits", "--storage", "mysql://u@h/db"])
    simple("best: http URL", ["best", "--dataset", "digits", "--storage", "http://example"])
    simple("best: unknown dataset", ["best", "--dataset", "nope", "--storage", st])
    simple("best: dataset the store lacks", ["best", "--dataset", "mnist", "--storage", st])
    simple("best: --max-energy 1", ["best", "--dataset", "digits", "--storage", st,
                                    "--max-energy", "1"])
    simple("best: --max-energy nan", ["best", "--dataset", "digits", "--storage", st,
                                      "--max-energy", "nan"])
    empty = d / "empty"
    empty.mkdir()
    subprocess.run([PY, "-c", "import optuna,sys; optuna.create_study(study_name='digits/e', "
                    "storage=f'sqlite:///{sys.argv[1]}/biril.db')", str(empty)], check=True,
                   capture_output=True)
    simple("best: an empty study", ["best", "--dataset", "digits", "--storage", str(empty)])
    bad = d / "badjson"
    bad.mkdir()
    (bad / "biril.db").write_bytes((d / "st/biril.db").read_bytes())
    con = sqlite3.connect(bad / "biril.db")
    con.execute("update trial_user_attributes set value_json='{bad' where key='ratio'")
    con.commit()
    con.close()
    simple("best: malformed JSON attribute", ["best", "--dataset", "digits", "--storage",
                                              str(bad)])
    simple("report: malformed JSON attribute", ["report", "--storage", str(bad), "-o", "r.html"])
    esc = d / "escapes"
    esc.mkdir()
    (esc / "biril.db").write_bytes((d / "st/biril.db").read_bytes())
    con = sqlite3.connect(esc / "biril.db")
    con.execute("update studies set study_name=? ", ("digits/x\x1b[31mRED\nline",))
    con.commit()
    con.close()
    rc, out, s = run(["best", "--dataset", "digits", "--storage", str(esc)], d)
    row("best: sweep name with escape codes in the store", "biril best --storage tampered",
        rc, out, s, "raw ESC printed" if "\x1b" in out else "no raw ESC")

    def notes(folder: Path) -> None:
        (folder / "notes.txt").write_text("mine")
        (folder / "notes-curves.csv").write_text("mine")

    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        notes(t)
        rc, out, s = run(["report", "--storage", st, "-o", "notes.txt"], t)
        kept = (t / "notes.txt").read_text() == "mine" and (
            t / "notes-curves.csv").read_text() == "mine"
        row("report -o an existing file", "biril report --storage st -o notes.txt", rc, out, s,
            "notes.txt and notes-curves.csv kept" if kept else "notes.txt, curves replaced")


def main() -> None:
    print("| probe | command | exit | lines | time | last line | on disk after |")
    print("|---|---|---|---|---|---|---|", flush=True)
    if "--concurrent" in sys.argv:
        two_trains()
        with tempfile.TemporaryDirectory() as d:
            two_sweeps(Path(d))
        ctrl_c_sweep()
    with tempfile.TemporaryDirectory() as d:
        store_probes(Path(d))

    def ro_root(folder: Path) -> None:
        (folder / "spec.yaml").write_text(TINY)
        (folder / "ro").mkdir()
        os.chmod(folder, 0o755)

    simple("read-only results folder (as nobody)",
           ["sweep", "spec.yaml", "--storage", "ro", "--report", "none"], setup=ro_root,
           user=True, env={"HOME": "/tmp", "RAY_TMPDIR": "/tmp/biril-probe-nobody"})

    def ro_db(folder: Path) -> None:
        (folder / "spec.yaml").write_text(TINY)
        subprocess.run([PY, "-c", "import optuna,sys; optuna.storages.RDBStorage("
                        "f'sqlite:///{sys.argv[1]}/rw.db')", str(folder)], check=True)

    simple("read-only database", ["sweep", "spec.yaml", "--storage", "R", "--db",
                                  "sqlite:///file:rw.db?mode=ro&uri=true", "--report", "none"],
           setup=ro_db)
    long = "n" * 5000
    simple("5000-character sweep name", ["sweep", "--storage", "R", "--name", long],
           shown="biril sweep --storage R --name nnnn…(5000)")
    simple("5000-character output dir", ["train", "--epochs", "1", "--output-dir", long],
           shown="biril train --output-dir nnnn…(5000)")

    def ckpt_dir(folder: Path) -> None:
        (folder / "runs/k/checkpoint.pt").mkdir(parents=True)

    simple("output dir holding a folder checkpoint.pt",
           ["train", "--epochs", "1", "--output-dir", "runs/k"], setup=ckpt_dir)
    simple("the same with --resume",
           ["train", "--epochs", "1", "--output-dir", "runs/k", "--resume"], setup=ckpt_dir)
    simple("--output-dir ''", ["train", "--epochs", "1", "--output-dir", ""],
           shown="biril train --epochs 1 --output-dir ''")
    simple("BIRIL_DB=junk", ["sweep", "--storage", "R"], env={"BIRIL_DB": "junk"},
           shown="BIRIL_DB=junk biril sweep --storage R")

    def empty_mnist(folder: Path) -> None:
        raw = folder / "data/MNIST/raw"
        raw.mkdir(parents=True)
        for split in ("train", "t10k"):
            (raw / f"{split}-images-idx3-ubyte").write_bytes(
                bytes([0, 0, 8, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
            (raw / f"{split}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + bytes(4))

    simple("MNIST files with zero images", ["train", "--dataset", "mnist", "--data-root",
                                            "data", "--epochs", "1"], setup=empty_mnist)
    simple("YAML alias bomb as epochs", ["train", "--config", "bomb.yaml"],
           setup=lambda f: (f / "bomb.yaml").write_text(BOMB), timeout=120)
    simple("--config /dev/zero", ["train", "--config", "/dev/zero"], timeout=60)
    simple("--config /dev/urandom", ["train", "--config", "/dev/urandom"], timeout=60)
    simple("--time-steps 100000", ["train", "--time-steps", "100000", "--epochs", "1"],
           timeout=300)
    simple("--batch-size 1e9 (as a number)", ["train", "--batch-size", "1000000000",
                                              "--epochs", "1"], timeout=300)
    simple("epochs: 1.0e+29 in a config", ["train", "--config", "c.yaml"],
           setup=lambda f: (f / "c.yaml").write_text("epochs: 1.0e+29\n"), timeout=120)
    simple("--lr inf", ["train", "--lr", "inf", "--epochs", "1"], timeout=300)


if __name__ == "__main__":
    main()
