"""``resources.gpus_per_trial: auto``: how many trials share one GPU, chosen by measurement.

Small networks leave most of a large GPU idle, so several trials side by side finish more
trial-epochs per GPU-hour than one at a time; too many and they queue on the GPU or run
out of its memory. Rather than guess a fraction, a short probe runs ``k = 1, 2, 4, …``
trials' training steps at once on one GPU (each a process of its own, pinned to ``1/k``
of the memory as a sweep pins its trials), measures their step time and peak memory, and
the packing with the most trial-steps per second wins — the same ranking as trial-epochs
per GPU-hour, since an epoch is a fixed number of steps. Doubling stops at the first
``k`` that does not fit (out of memory), that the CPUs cannot hold (``cpus_per_trial``),
or that gains less than ``MIN_GAIN`` over the best so far.

The steps are the trial's own network, batch and precision on random data of the
dataset's shape, cycling through the three BIRIL modes (a trial mixes them). The probe's
figures are recorded in the study and in the sweep's summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable

from pydantic import BaseModel

from .spec import SweepError

# Doubling the trials per GPU stops when throughput grows by less than this.
MIN_GAIN = 1.05
MAX_TRIALS_PER_GPU = 32
PROBE_WARMUP = 3
PROBE_STEPS = 12
# A traceback's last line: ``package.module.SomeError: message``.
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception)\b")


class ProbePoint(BaseModel):
    """``trials`` side by side on one GPU: did they fit, how fast, how much memory."""

    trials: int
    fits: bool
    step_s: float | None = None  # median step of one trial while all ran
    peak_mb: float | None = None  # the largest trial's peak reserved memory
    steps_per_s: float | None = None  # all trials together
    trial_epochs_per_gpu_hour: float | None = None
    reason: str | None = None  # why it did not fit


class Packing(BaseModel):
    """The packing a sweep ran with, and the measurements it was chosen from."""

    gpus_per_trial: float
    trials_per_gpu: int
    reason: str
    device: str | None = None
    probe: list[ProbePoint] = []


def choose_packing(
    probe: Callable[[int], ProbePoint], max_trials: int, device: str | None = None
) -> Packing:
    """Double the trials per GPU while it pays; the packing of the most steps per second.

    ``probe(k)`` measures ``k`` trials side by side; ``max_trials``: the most to try (what
    the CPUs hold at ``cpus_per_trial``, or a cap).
    """
    points: list[ProbePoint] = []
    best: ProbePoint | None = None
    k = 1
    while k <= max_trials:
        point = probe(k)
        points.append(point)
        if not point.fits:
            break
        if best is not None and point.steps_per_s < MIN_GAIN * best.steps_per_s:
            if point.steps_per_s > best.steps_per_s:
                best = point
            break
        best = point
        k *= 2
    if best is None:
        raise PackingError(
            f"resources.gpus_per_trial: auto: one trial alone does not fit on the GPU "
            f"({points[0].reason}); lower train.batch_size or use a larger GPU"
        )
    last = points[-1]
    if not last.fits:
        why = f"{last.trials} did not fit ({last.reason})"
    elif last.trials * 2 > max_trials and last is best:
        why = f"no more than {max_trials} allowed (the CPUs per trial, or the probe's cap)"
    else:
        why = f"{last.trials} gained less than {MIN_GAIN - 1:.0%} more steps per second"
    return Packing(
        gpus_per_trial=1 / best.trials,
        trials_per_gpu=best.trials,
        reason=f"{best.trials} trials per GPU: most steps per second; {why}",
        device=device,
        probe=points,
    )


class PackingError(SweepError):
    """``gpus_per_trial: auto`` cannot choose a packing; the message says what to do."""


def resolve_packing(
    train: dict,
    cpus: float,
    cpus_per_trial: float,
    steps_per_epoch: Callable[[], int | None],
) -> Packing:
    """The packing for ``gpus_per_trial: auto`` on this machine.

    Without a CUDA device there is nothing to pack: trials run on the CPU (0 GPUs each),
    and the packing says so. ``steps_per_epoch`` is asked only when there is a GPU to
    probe (counting a dataset may mean reading it).
    """
    import torch

    if not torch.cuda.is_available():
        return Packing(
            gpus_per_trial=0.0,
            trials_per_gpu=0,
            reason="no CUDA device on this machine: auto means 0 GPUs, trials run on the CPU",
        )
    max_trials = max(1, min(MAX_TRIALS_PER_GPU, int(cpus / cpus_per_trial + 1e-9)))
    name = torch.cuda.get_device_name(0)
    threads = max(1, int(cpus_per_trial))
    steps = steps_per_epoch()
    return choose_packing(
        lambda k: probe_trials(train, k, steps, threads=threads), max_trials, name
    )


def probe_trials(
    train: dict,
    trials: int,
    steps_per_epoch: int | None,
    device: str = "cuda",
    threads: int = 1,
) -> ProbePoint:
    """Run ``trials`` processes of the trial's training steps at once on GPU 0 (or the CPU).

    Each warms up, says it is ready, and waits; once all are ready they are released
    together, so the timed steps overlap. Throughput counts the slowest trial's time.
    The CPU (``device="cpu"``) is for checking the probe itself: no memory is measured.
    ``threads``: each trial's CPU threads, as a sweep pins them (``cpus_per_trial``).
    """
    args = json.dumps(
        {"train": train, "fraction": 1 / trials, "device": device, "threads": threads}
    )
    code = "import sys; from sweeps.packing import probe_child; probe_child(sys.argv[1])"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")}
    # stderr to files, not pipes: a child's warnings must never fill a pipe nobody reads
    # while this process waits for its "ready".
    logs = [tempfile.TemporaryFile("w+") for _ in range(trials)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
        )
        for log in logs
    ]
    try:
        ready = [p.stdout.readline().strip() == "ready" for p in procs]
        for p, ok in zip(procs, ready, strict=True):
            # Only the ready are released; one that dies in between is reported below.
            with contextlib.suppress(BrokenPipeError):
                if ok:
                    p.stdin.write("go\n")
                    p.stdin.flush()
        outs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errs = []
    for log in logs:
        log.seek(0)
        errs.append(log.read())
        log.close()
    failed = [err for out, err, ok in zip(outs, errs, ready, strict=True) if not ok or not out]
    if failed:
        return ProbePoint(trials=trials, fits=False, reason=failure_reason(failed[0]))
    runs = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    slowest = max(r["seconds"] for r in runs)
    steps_per_s = trials * runs[0]["steps"] / slowest
    return ProbePoint(
        trials=trials,
        fits=True,
        step_s=sorted(r["step_s"] for r in runs)[len(runs) // 2],
        peak_mb=max(r["peak_mb"] for r in runs) if device == "cuda" else None,
        steps_per_s=steps_per_s,
        trial_epochs_per_gpu_hour=(
            steps_per_s * 3600 / steps_per_epoch if steps_per_epoch else None
        ),
    )


def failure_reason(stderr: str) -> str:
    """One line on why a probe trial died: out of memory, else its traceback's exception."""
    if "OutOfMemoryError" in stderr:
        return "out of memory"
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    raised = [i for i, line in enumerate(lines) if EXCEPTION_LINE.match(line)]
    tail = lines[raised[-1]:] if raised else lines[-1:]
    return " ".join(tail)[:300] or "the trial process died without a message"


def probe_child(arg: str) -> None:
    """One probe trial: warm up, print ``ready``, wait for ``go``, time the steps, print JSON."""
    import statistics
    import time

    import torch

    from biril import TrainConfig
    from biril.capture import capture
    from biril.datasets import REGISTRY
    from biril.models import build_model
    from biril.schedule import MODES
    from biril.trainer import BIRILStep

    args = json.loads(arg)
    cuda = args["device"] == "cuda"
    device = torch.device("cuda:0" if cuda else "cpu")
    config = TrainConfig(**{**args["train"], "device": str(device)})
    torch.set_num_threads(args["threads"])
    if cuda:
        torch.cuda.set_per_process_memory_fraction(args["fraction"], 0)
    info = REGISTRY[config.dataset]
    T = config.time_steps or info.time_steps
    model = build_model(
        config.preset or info.preset, info.input_shape[-3], info.num_classes, T,
        neuron={"compile": config.compile_neurons}, stdp_linear=config.stdp_linear,
    ).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = capture(model, config.capture, device)  # compiled while warming up, if asked
    step = BIRILStep(model, config, total_steps=10_000)
    shape = (config.batch_size, *info.input_shape)
    x = torch.rand(shape, device=device)
    x = x.transpose(0, 1) if x.dim() == 5 else x  # events arrive [B, T, ...]
    y = torch.randint(0, info.num_classes, (config.batch_size,), device=device)
    for i in range(PROBE_WARMUP):
        step(x, y, MODES[i % len(MODES)])
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    print("ready", flush=True)
    sys.stdin.readline()
    times = []
    start = time.perf_counter()
    for i in range(PROBE_STEPS):
        t0 = time.perf_counter()
        step(x, y, MODES[i % len(MODES)])  # loss.item() syncs: each step is complete
        times.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "steps": PROBE_STEPS,
        "seconds": seconds,
        "step_s": statistics.median(times),
        "peak_mb": torch.cuda.max_memory_reserved(device) / 2**20 if cuda else None,
    }))
