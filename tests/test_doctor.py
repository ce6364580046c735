"""``biril doctor``: every check fails when its condition is broken on purpose, says how to
fix it, and never shows a secret; the command exits 1 only for what a sweep needs."""

from __future__ import annotations

import json
import platform
import socket
import sqlite3
import subprocess
import sys
from importlib import metadata

import pytest
import torch

from biril.datasets import REGISTRY
from biril.doctor import data_checks, failed_required, version_checks
from cluster.doctor import token_check, version_differences
from sweeps.doctor import storage_checks


def biril(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "birilcli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


# ----------------------------------------------------------------------------- packages
def test_versions_are_the_installed_ones():
    checks = by_name(version_checks())
    assert checks["python"].message == platform.python_version()
    assert checks["torch"].message == torch.__version__
    assert checks["ray"].message == metadata.version("ray")
    assert checks["optuna"].required and checks["ray"].required and checks["torch"].required
    assert not checks["tonic"].required
    cuda = checks["cuda"]
    assert cuda.ok == torch.cuda.is_available()
    assert cuda.detail["version"] == torch.version.cuda


def test_a_missing_package_fails_with_the_fix(monkeypatch):
    real = metadata.version

    def version(name):
        if name == "optuna":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    optuna = by_name(version_checks())["optuna"]
    assert not optuna.ok and optuna.required and optuna.message == "not installed"
    assert "pip install" in optuna.fix


def test_nodes_differing_from_the_driver_fail_only_for_the_differing_version():
    here, node = version_checks(), version_checks()
    by_name(node)["torch"].detail = {"version": "0.0.1"}
    (diff,) = version_differences(here, node)
    assert diff.name == "torch = driver's" and diff.required and not diff.ok
    assert diff.message == f"0.0.1 on this node, {torch.__version__} here"
    assert version_differences(here, version_checks()) == []


# ----------------------------------------------------------------------------- data
def test_missing_dataset_needed_by_the_sweep_fails_naming_the_layout(tmp_path):
    checks = by_name(data_checks(str(tmp_path), dataset="mnist"))
    assert checks["data root"].ok
    assert "digits" in checks["datasets"].detail["found"]
    mnist = checks["dataset mnist"]
    assert not mnist.ok and mnist.required
    assert str(REGISTRY["mnist"].missing(tmp_path)[0]) in mnist.message
    assert REGISTRY["mnist"].layout in mnist.fix and "--download" in mnist.fix
    assert failed_required(list(checks.values())) == [mnist]


def test_missing_data_root_is_a_warning_not_a_failure(tmp_path):
    checks = by_name(data_checks(str(tmp_path / "nowhere")))
    root = checks["data root"]
    assert not root.ok and not root.required and "no such folder" in root.message
    assert failed_required(list(checks.values())) == []


def test_unreadable_dataset_fails_the_datasets_check(tmp_path):
    for path in REGISTRY["mnist"].files(tmp_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not an IDX file")
    checks = by_name(data_checks(str(tmp_path), dataset="mnist"))
    assert not checks["datasets"].ok and "unreadable: mnist" in checks["datasets"].message
    assert not checks["dataset mnist"].ok


# ----------------------------------------------------------------------------- store
def test_writable_results_root_and_new_database(tmp_path):
    checks = by_name(storage_checks(str(tmp_path / "results")))
    assert checks["results root"].ok and "will be created" in checks["results root"].message
    assert checks["database"].ok and "will be created" in checks["database"].message
    assert list(tmp_path.iterdir()) == []  # the doctor created nothing


def test_results_root_behind_a_file_fails_with_the_fix(tmp_path):
    (tmp_path / "file").write_text("x")
    checks = by_name(storage_checks(str(tmp_path / "file" / "results")))
    root = checks["results root"]
    assert not root.ok and root.required
    assert f"{tmp_path / 'file'} is a file" in root.message and "--storage" in root.fix
    assert not checks["database"].ok


def test_results_root_on_a_read_only_filesystem_fails():
    root = by_name(storage_checks("/proc/biril-results"))["results root"]
    assert not root.ok and "cannot write in /proc" in root.message


def test_existing_database_is_queried(tmp_path):
    sqlite3.connect(tmp_path / "biril.db").execute("CREATE TABLE t (x)").connection.close()
    assert by_name(storage_checks(str(tmp_path)))["database"].message.endswith("reachable")
    (tmp_path / "biril.db").write_bytes(b"this is no database" * 100)
    db = by_name(storage_checks(str(tmp_path)))["database"]
    assert not db.ok and db.required and "file is not a database" in db.message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_fails_without_showing_its_password(tmp_path):
    url = f"postgresql+psycopg2://biril:s3cr3t-pw@127.0.0.1:{closed_port()}/biril"
    db = by_name(storage_checks(str(tmp_path), url))["database"]
    assert not db.ok and db.required
    assert "s3cr3t-pw" not in json.dumps(db.to_dict())
    assert f"biril:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in db.message


def test_object_store_root_needs_a_database_url():
    checks = by_name(storage_checks("s3://bucket/biril"))
    assert checks["results root"].ok and "not contacted" in checks["results root"].message
    assert not checks["database"].ok and "--db" in checks["database"].fix


# ----------------------------------------------------------------------------- token
@pytest.fixture
def no_token(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token there


def test_missing_token_is_a_warning_with_the_fix(no_token):
    check = token_check()
    assert not check.ok and not check.required and "RAY_AUTH_TOKEN" in check.fix


def test_unreadable_token_file_fails(no_token, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "absent"))
    check = token_check()
    assert not check.ok and check.required and "cannot be read" in check.message


def test_found_token_is_never_shown(no_token, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "tok-9f8e7d6c")
    check = token_check()
    assert check.ok and "$RAY_AUTH_TOKEN" in check.message
    assert "tok-9f8e7d6c" not in json.dumps(check.to_dict())


# ----------------------------------------------------------------------------- command
def test_doctor_json_exits_1_when_the_sweep_would_fail(tmp_path):
    (tmp_path / "file").write_text("x")
    r = biril(
        "doctor",
        "--json",
        "--data-root",
        str(tmp_path),
        "--dataset",
        "mnist",
        "--storage",
        str(tmp_path / "file" / "results"),
    )
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    failed = {c["name"] for c in report["checks"] if c["required"] and not c["ok"]}
    assert failed == {"dataset mnist", "results root", "database"}
    names = [c["name"] for c in report["checks"]]
    for name in ("python", "torch", "cuda", "ray", "optuna", "tonic", "torch.compile"):
        assert name in names
    assert names[-1] == "ray token" and report["ok"] is False


BAD = [
    (["--device", "cpu"], "--device"),
    (["--smoke", "--address", "http://127.0.0.1:1"], "--smoke"),
    (["--dataset", "nope"], "--dataset"),
    (["--smoke", "--device", "tpu"], "--device"),
    (["--smoke", "--case", "nope"], "--case"),
]


@pytest.mark.parametrize("args,flag", BAD)
def test_bad_input_is_one_line_exit_2(args, flag):
    r = biril("doctor", *args)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and flag in line


def test_existing_out_file_is_not_overwritten(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("keep")
    r = biril("doctor", "--out", str(out))
    assert r.returncode == 2 and "--out" in r.stderr
    assert out.read_text() == "keep"
