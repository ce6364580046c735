"""``biril doctor``: will a sweep run on this machine? Every answer is a ``Check``.

A check says what it found, whether that is fine and, when it is not, what to do about
it. ``required`` marks what the next sweep cannot do without (torch, Ray, Optuna, a
writable results root, ...): the command exits non-zero only when one of those fails, so a
CPU-only machine or a missing optional package is reported without failing it.

This module holds the trainer's side — packages, GPUs, ``torch.compile``, data — and
imports nothing of Ray: it reads package versions from their metadata. ``sweeps.doctor``
adds the results store, ``cluster.doctor`` the Ray token and the run on every node.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata

INSTALL_PROJECT = "install this project's dependencies: pip install -e . (from the checkout)"
# (distribution, needed by the next sweep, what it is for when missing)
PACKAGES = (
    ("torch", True, INSTALL_PROJECT),
    ("ray", True, INSTALL_PROJECT + "; every node and the driver need the same Ray release"),
    ("optuna", True, INSTALL_PROJECT),
    ("tonic", False, "pip install tonic (only dvs128_gesture needs it)"),
)


@dataclass
class Check:
    """One finding: ``ok`` or not, what was seen, and the fix when there is one."""

    name: str
    ok: bool
    message: str
    fix: str | None = None
    required: bool = False
    # Machine-readable figures behind the message (versions, memory), for --json and for
    # comparing the nodes of a cluster.
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def failed_required(checks: list[Check]) -> list[Check]:
    """The failures that stop the next sweep (what makes ``biril doctor`` exit 1)."""
    return [c for c in checks if c.required and not c.ok]


def first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


# ----------------------------------------------------------------------------- packages
def version_checks() -> list[Check]:
    """Python, torch, CUDA, cuDNN, Ray, Optuna and tonic: installed, and which version."""
    python = platform.python_version()
    checks = [Check("python", True, python, detail={"version": python})]
    for name, required, fix in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            checks.append(Check(name, False, "not installed", fix=fix, required=required))
            continue
        if name == "torch":  # with its build tag (+cu130, +cpu), which the metadata lacks
            import torch

            version = torch.__version__
        checks.append(Check(name, True, version, required=required, detail={"version": version}))
    if any(c.name == "torch" and c.ok for c in checks):
        checks += cuda_checks()
    return checks


def cuda_checks() -> list[Check]:
    """The CUDA runtime torch was built with and cuDNN, and whether a GPU answers."""
    import torch

    built = torch.version.cuda
    if built is None:
        return [
            Check(
                "cuda",
                False,
                "CPU-only build of torch: trials train on the CPU",
                fix="for GPUs install a CUDA build of torch (https://pytorch.org/get-started)",
                detail={"version": None},
            )
        ]
    if not torch.cuda.is_available():
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = f"CUDA_VISIBLE_DEVICES={hidden!r}" if hidden is not None else "no device or driver"
        return [
            Check(
                "cuda",
                False,
                f"torch built for CUDA {built}, but no GPU is usable ({why})",
                fix="check `nvidia-smi`; the driver must support CUDA " + built,
                detail={"version": built},
            )
        ]
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return [
        Check(
            "cuda", True, f"{built}, {torch.cuda.device_count()} GPU(s)", detail={"version": built}
        ),
        Check(
            "cudnn",
            cudnn is not None,
            str(cudnn) if cudnn else "not available: convolutions run without cuDNN (slow)",
            fix=None if cudnn else "install a torch build that bundles cuDNN",
            detail={"version": cudnn},
        ),
    ]


# ----------------------------------------------------------------------------- GPUs
def gpu_checks() -> list[Check]:
    """Each visible GPU: name, memory, compute capability, native bfloat16 (for --amp)."""
    import torch

    checks = []
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        p = torch.cuda.get_device_properties(i)
        bf16 = (p.major, p.minor) >= (8, 0)  # Ampere and later compute bfloat16 natively
        memory_gib = p.total_memory / 2**30
        checks.append(
            Check(
                f"gpu {i}",
                True,
                f"{p.name}, {memory_gib:.1f} GiB, compute {p.major}.{p.minor}, "
                f"bf16 {'native' if bf16 else 'emulated (--amp gains nothing)'}",
                detail={
                    "name": p.name,
                    "memory_gib": round(memory_gib, 2),
                    "capability": f"{p.major}.{p.minor}",
                    "bf16": bf16,
                },
            )
        )
    return checks


# ----------------------------------------------------------------------------- compile
def _tiny(x):
    """What ``torch.compile`` must get right: a few fused element-wise ops."""
    return (x * 2.0).sin() + (x > 0.5).float()


def compile_check() -> Check:
    """``torch.compile`` on a tiny function, on the GPU if there is one (what trials use).

    Only ``--compile-neurons`` needs it, so a failure is reported, not fatal. The first
    compile on a machine takes seconds (inductor builds and caches its kernels).
    """
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    try:
        x = torch.linspace(-1.0, 1.0, 64, device=device)
        same = torch.allclose(torch.compile(_tiny, fullgraph=True)(x), _tiny(x))
    except Exception as e:  # inductor reports a missing compiler or Triton in many ways
        return Check(
            "torch.compile",
            False,
            f"fails on {device}: {first_line(e)}",
            fix="inductor needs a C++ compiler (gcc) on CPU and Triton on CUDA; or leave "
            "--compile-neurons off (the only user of torch.compile)",
        )
    seconds = time.perf_counter() - started
    return Check(
        "torch.compile",
        same,
        f"works on {device} ({seconds:.1f} s)" if same else f"wrong result on {device}",
        fix=None if same else "leave --compile-neurons off and report the torch version",
        detail={"device": device, "seconds": round(seconds, 2)},
    )


# ----------------------------------------------------------------------------- data
def data_checks(data_root: str | None = None, dataset: str | None = None) -> list[Check]:
    """The data root, which datasets are there (as ``biril datasets``), and ``dataset``.

    Without ``dataset`` a missing dataset is no failure: this machine may not need it.
    A dataset present but unreadable is one, and so is ``dataset`` when it is not there.
    """
    from .datasets import REGISTRY, DatasetError, inventory
    from .datasets import data_root as resolve_root

    root = resolve_root(data_root)
    source = (
        "--data-root" if data_root else "$BIRIL_DATA" if os.environ.get("BIRIL_DATA") else "default"
    )
    checks = [
        Check(
            "data root",
            root.is_dir(),
            f"{root} ({source})" + ("" if root.is_dir() else ": no such folder"),
            fix=None
            if root.is_dir()
            else "create it and put datasets there, or point --data-root/BIRIL_DATA at yours "
            "(digits needs none)",
            detail={"path": str(root)},
        )
    ]
    try:
        rows = inventory(data_root)
    except DatasetError:  # a named root that is no folder: the check above says so
        rows = [
            {"name": info.name, "status": "missing" if info.folder else "found", "detail": ""}
            for info in REGISTRY.values()
        ]
    by_status = {s: [r["name"] for r in rows if r["status"] == s] for s in ("found", "missing")}
    broken = [r for r in rows if r["status"] == "error"]
    message = f"found: {', '.join(by_status['found']) or 'none'}; missing: " + (
        ", ".join(by_status["missing"]) or "none"
    )
    if broken:
        message += "; unreadable: " + "; ".join(f"{r['name']} ({r['detail']})" for r in broken)
    checks.append(
        Check(
            "datasets",
            not broken,
            message,
            fix="replace the unreadable files, or delete them and pass --download"
            if broken
            else None,
            detail={"found": by_status["found"]},
        )
    )
    if dataset is not None:
        row = next(r for r in rows if r["name"] == dataset)
        ok = row["status"] == "found"
        checks.append(
            Check(
                f"dataset {dataset}",
                ok,
                f"found at {row['path']}" if ok else row["detail"],
                fix=None
                if ok
                else f"put it under {root} ({REGISTRY[dataset].layout}), or let the run fetch "
                "it: --download (biril train), train.download: true (a sweep spec)",
                required=True,
            )
        )
    return checks


def trainer_checks(data_root: str | None = None, dataset: str | None = None) -> list[Check]:
    """Everything the trainer needs from this machine, in the order ``biril doctor`` shows."""
    checks = version_checks()
    if any(c.name == "torch" and c.ok for c in checks):
        checks += gpu_checks()
        checks.append(compile_check())
        checks += data_checks(data_root, dataset)
    return checks


# ----------------------------------------------------------------------------- output
def status_word(check: Check) -> str:
    """``ok``, ``FAIL`` (the sweep needs it) or ``warn`` (reported, not needed)."""
    if check.ok:
        return "ok"
    return "FAIL" if check.required else "warn"


def render(checks: list[Check], title: str):
    """A rich table of checks: status, name, what was found, the fix."""
    from rich.table import Table

    colour = {"ok": "green", "FAIL": "bold red", "warn": "yellow"}
    table = Table(title=title)
    for col in ("", "check", "found", "fix"):
        table.add_column(col)
    for c in checks:
        word = status_word(c)
        table.add_row(f"[{colour[word]}]{word}", c.name, c.message, c.fix or "")
    return table
