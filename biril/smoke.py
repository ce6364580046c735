"""``biril doctor --smoke``: the trainer run for real on a device, small and fast.

Every case exercises a path a GPU sweep takes — a training step per mode in float32 and
under ``--amp``, compiled neurons, compact spikes, a short run that must learn, the
comparison with SpikingJelly, and (in ``sweeps.smoke``) trials packed on one device —
and reports ``ok`` with its figures: time per step, peak memory, accuracy. Cases are
independent: one that raises, runs past its time guard or lacks an optional package is
reported as failed with its reason, and the next one runs.

On CUDA the shapes are the real ones (``paper18``, batch 64, T=4, CIFAR-sized input);
on the CPU the same code runs at tiny shapes (``mnist`` preset, batch 8, T=2), which is
what the test suite runs, so the GPU run is code CI has already exercised.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from .doctor import Check, first_line
from .schedule import MODES, Mode


@dataclass(frozen=True)
class Profile:
    """The sizes of every case on one kind of device."""

    preset: str
    batch_size: int
    time_steps: int
    reps: int
    warmup: int
    learn_preset: str
    learn_size: int  # synthetic images are 3 x size x size, 10 classes
    learn_samples: int
    learn_batch: int
    guard_s: float  # a case still running after this long is stopped and failed


PROFILES = {
    "cuda": Profile(
        preset="paper18",
        batch_size=64,
        time_steps=4,
        reps=5,
        warmup=2,
        # paper18 barely moves in two short epochs (8x8 on CPU, 32 steps: 11.9% -> 10.0%);
        # small at 32x32 does (16% -> 35% in the same 32 steps).
        learn_preset="small",
        learn_size=32,
        learn_samples=4096,
        learn_batch=64,
        guard_s=150.0,
    ),
    "cpu": Profile(
        preset="mnist",
        batch_size=8,
        time_steps=2,
        reps=2,
        warmup=1,
        learn_preset="small",
        learn_size=8,
        learn_samples=256,
        learn_batch=16,
        guard_s=150.0,
    ),
}

Case = Callable[[torch.device, Profile], Check]


class CaseTimeout(Exception):
    """A case ran past its guard."""


# ------------------------------------------------------------------------------ helpers
@contextlib.contextmanager
def time_guard(seconds: float) -> Iterator[None]:
    """Raise ``CaseTimeout`` in this thread after ``seconds`` (SIGALRM; main thread only).

    A kernel already running finishes first: the guard stops the case at the next Python
    line, so a hung case costs its guard, not the whole smoke run.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum, frame):
        raise CaseTimeout(f"stopped after its {seconds:g} s guard")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: the CUDA allocator's, or this process's resident set (Linux)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif os.path.exists("/proc/self/clear_refs"):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak resident set := current resident set


MEMORY_KIND = {"cuda": "allocated", "cpu": "process resident"}


def peak_memory_mb(device: torch.device) -> float | None:
    """MiB at the peak since ``reset_peak_memory``: allocated on CUDA, resident on CPU."""
    from .bench import proc_status_mb

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        return proc_status_mb("VmHWM")
    except OSError:
        return None


def require_on(device: torch.device, *tensors: torch.Tensor) -> None:
    """Fail the case unless its tensors really live on ``device`` (a GPU run on the CPU
    would otherwise pass, only slower)."""
    for t in tensors:
        if t.device.type != device.type:
            raise RuntimeError(f"a tensor is on {t.device}, not on {device}")


def options(device: torch.device, profile: Profile, **switches):
    """The bench's options at the profile's sizes, with the trainer's switches."""
    from .bench import BenchOptions

    return BenchOptions(
        presets=(profile.preset,),
        batch_size=profile.batch_size,
        time_steps=profile.time_steps,
        reps=profile.reps,
        warmup=profile.warmup,
        device=str(device),
        **switches,
    )


def stepper(device: torch.device, profile: Profile, **switches):
    """A seeded model of the profile's preset, its ``BIRILStep`` and one batch."""
    from .bench import batch, our_model, train_config
    from .trainer import BIRILStep

    opts = options(device, profile, **switches)
    torch.manual_seed(0)
    model = our_model(profile.preset, opts, device)
    step = BIRILStep(model, train_config(profile.preset, opts), total_steps=10_000)
    x, y = batch(profile.preset, opts, device)
    require_on(device, x, next(model.parameters()))
    return model, step, x, y


def timed_steps(step, x, y, mode: Mode, profile: Profile, device) -> tuple[float, list[float]]:
    """Median seconds of ``mode`` steps after warm-up, and every loss seen."""
    from .bench import interleaved_medians

    losses: list[float] = []
    median = interleaved_medians(
        {mode.value: lambda: losses.append(step(x, y, mode)[0])},
        profile.reps,
        profile.warmup,
        device,
    )[mode.value]
    return median, losses


# ------------------------------------------------------------------------------ cases
def device_case(device: torch.device, profile: Profile) -> Check:
    """What the smoke runs on; on CUDA, proof that a kernel ran on the GPU."""
    if device.type != "cuda":
        return Check(
            "device",
            True,
            f"cpu, {torch.get_num_threads()} threads, torch {torch.__version__}",
            required=True,
            detail={"device": "cpu", "threads": torch.get_num_threads()},
        )
    a = torch.randn(256, 256, device=device)
    on_gpu = torch.allclose((a @ a).cpu(), a.cpu() @ a.cpu(), rtol=1e-3, atol=1e-2)
    p = torch.cuda.get_device_properties(device)
    return Check(
        "device",
        on_gpu and a.is_cuda,
        f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute {p.major}.{p.minor}, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
        required=True,
        detail={
            "device": str(device),
            "name": p.name,
            "capability": f"{p.major}.{p.minor}",
            "memory_gib": round(p.total_memory / 2**30, 1),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
        },
    )


def step_case(mode: Mode, amp: bool) -> Case:
    """One training step of ``mode`` (float32, or bfloat16 autocast with ``amp``)."""

    def run(device: torch.device, profile: Profile) -> Check:
        _, step, x, y = stepper(device, profile, amp=amp)
        reset_peak_memory(device)
        median, losses = timed_steps(step, x, y, mode, profile, device)
        peak = peak_memory_mb(device)
        finite = all(math.isfinite(loss) for loss in losses)
        return Check(
            "",
            finite,
            f"{median * 1e3:.1f} ms/step, peak {peak or float('nan'):.0f} MiB "
            f"{MEMORY_KIND[device.type]}, loss {losses[-1]:.4f}"
            + ("" if finite else " (not finite)"),
            required=True,
            detail={"ms_per_step": median * 1e3, "peak_memory_mb": peak, "losses": losses},
        )

    return run


def compile_case(device: torch.device, profile: Profile) -> Check:
    """``--compile-neurons``: the same loss as eager from the same weights, and its speed."""
    _, eager, x, y = stepper(device, profile)
    _, compiled, _, _ = stepper(device, profile, compile_neurons=True)
    started = time.perf_counter()
    loss_compiled = compiled(x, y, Mode.STBP)[0]  # the first call compiles
    compile_s = time.perf_counter() - started
    loss_eager = eager(x, y, Mode.STBP)[0]
    same = math.isclose(loss_compiled, loss_eager, rel_tol=1e-3, abs_tol=1e-5)
    t_compiled, _ = timed_steps(compiled, x, y, Mode.STBP, profile, device)
    t_eager, _ = timed_steps(eager, x, y, Mode.STBP, profile, device)
    return Check(
        "",
        same,
        f"STBP step {t_compiled * 1e3:.1f} ms compiled vs {t_eager * 1e3:.1f} ms eager "
        f"(compiled in {compile_s:.0f} s); loss {loss_compiled:.5f} vs {loss_eager:.5f}",
        required=True,
        detail={
            "ms_per_step": t_compiled * 1e3,
            "eager_ms_per_step": t_eager * 1e3,
            "compile_s": compile_s,
            "loss": loss_compiled,
            "eager_loss": loss_eager,
        },
    )


def compact_case(device: torch.device, profile: Profile) -> Check:
    """``--compact-spikes``: the same gradients as float spikes, and the memory saved."""
    figures = {}
    grads = {}
    for compact in (False, True):
        model, step, x, y = stepper(device, profile, compact_spikes=compact)
        # The first step's gradients, from the same initial weights in both runs (later
        # steps could part ways through cuDNN's non-deterministic backward alone).
        step(x, y, Mode.STBP)
        grads[compact] = [p.grad.detach().float().cpu() for p in model.parameters()]
        reset_peak_memory(device)
        median, _ = timed_steps(step, x, y, Mode.STBP, profile, device)
        figures[compact] = (median, peak_memory_mb(device))
    same = all(
        torch.allclose(a, b, rtol=1e-3, atol=1e-6)
        for a, b in zip(grads[False], grads[True], strict=True)
    )
    (t_float, m_float), (t_bool, m_bool) = figures[False], figures[True]
    memory = f"peak {m_bool:.0f} vs {m_float:.0f} MiB" if m_bool and m_float else "peak n/a"
    return Check(
        "",
        same,
        f"STBP step {t_bool * 1e3:.1f} vs {t_float * 1e3:.1f} ms, {memory}; gradients "
        + ("equal" if same else "DIFFER"),
        required=True,
        detail={
            "ms_per_step": t_bool * 1e3,
            "float_spikes_ms_per_step": t_float * 1e3,
            "peak_memory_mb": m_bool,
            "float_spikes_peak_memory_mb": m_float,
        },
    )


def synthetic_splits(samples: int, size: int, classes: int = 10, seed: int = 0):
    """CIFAR-shaped ``uint8`` images in memory: a fixed random template per class plus
    as much noise, so a network that trains at all must beat chance within an epoch."""
    from .datasets import DatasetSplits

    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(classes, 3, size, size, generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (n,), generator=g)
        x = 0.5 * templates[y] + 0.5 * torch.rand(n, 3, size, size, generator=g)
        return (x * 255).to(torch.uint8), y

    (train_x, train_y), (val_x, val_y) = draw(samples), draw(max(classes, samples // 4))
    return DatasetSplits(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        test_x=val_x,
        test_y=val_y,
        num_classes=classes,
        mean=(0.5, 0.5, 0.5),
        std=(0.2, 0.2, 0.2),
    )


def learn_case(device: torch.device, profile: Profile) -> Check:
    """Two epochs of the default 1:8:3 mix on data resident on the device: it must learn
    (training accuracy rising, and above twice chance)."""
    from .config import TrainConfig
    from .loader import DeviceLoader
    from .trainer import BIRILStep, build_for, evaluate, mode_schedule

    splits = synthetic_splits(profile.learn_samples, profile.learn_size)
    config = TrainConfig(
        preset=profile.learn_preset,
        time_steps=profile.time_steps,
        batch_size=profile.learn_batch,
        epochs=2,
        device=str(device),
    )
    torch.manual_seed(0)
    model = build_for(config, splits, device)
    train = DeviceLoader(splits, "train", config.batch_size, device, train=True)
    val = DeviceLoader(splits, "val", 256, device)
    require_on(device, train.x, next(model.parameters()))
    schedule = mode_schedule(config, len(train))
    step = BIRILStep(model, config, total_steps=len(schedule))
    reset_peak_memory(device)
    accuracy, seconds = [], []
    for epoch in range(config.epochs):
        started, correct = time.perf_counter(), 0
        for i, (x, y) in enumerate(train.batches(config.seed, epoch)):
            correct += step(x, y, schedule[epoch * len(train) + i])[1]
        accuracy.append(correct / train.num_samples)
        seconds.append(time.perf_counter() - started)
    val_loss, val_acc, _, _ = evaluate(model, val, config)
    peak = peak_memory_mb(device)
    chance = 1 / splits.num_classes
    # Training accuracy is the criterion: two epochs are too few for BatchNorm's running
    # statistics, which validation uses, to be trusted on the CPU's tiny run.
    learned = accuracy[1] > accuracy[0] and accuracy[1] > 2 * chance
    return Check(
        "",
        learned,
        f"train accuracy {accuracy[0]:.1%} -> {accuracy[1]:.1%}, val {val_acc:.1%} "
        f"(chance {chance:.0%}), {seconds[1]:.1f} s/epoch of {train.num_samples}",
        required=True,
        detail={
            "train_acc": accuracy,
            "val_acc": val_acc,
            "val_loss": val_loss,
            "epoch_s": seconds,
            "samples": train.num_samples,
            "ms_per_step": seconds[1] / len(train) * 1e3,
            "peak_memory_mb": peak,
        },
    )


def spikingjelly_case(device: torch.device, profile: Profile) -> Check:
    """The bench's step comparison: our three modes against SpikingJelly's STBP step."""
    from .bench import spikingjelly_missing
    from .bench import step_case as bench_step_case
    from .bench_spikingjelly import INSTALL_HINT

    missing = spikingjelly_missing()
    if missing:
        return Check("", False, missing, fix=INSTALL_HINT.split(": ", 1)[1])
    result = bench_step_case(profile.preset, options(device, profile), device, with_sj=True)
    ms = {k: v * 1e3 for k, v in result["median_s"].items()}
    return Check(
        "",
        True,
        f"STBP step {ms[Mode.STBP.value]:.1f} ms vs SpikingJelly {ms['spikingjelly_stbp']:.1f} "
        f"ms: {result['speedup_vs_spikingjelly']:.2f}x",
        detail={"ms_per_step": ms, "speedup_vs_spikingjelly": result["speedup_vs_spikingjelly"]},
    )


def trainer_cases() -> dict[str, Case]:
    """The smoke's trainer cases by name, in the order they run."""
    cases: dict[str, Case] = {"device": device_case}
    for amp in (False, True):
        for mode in MODES:
            cases[f"step {mode.value} {'amp' if amp else 'fp32'}"] = step_case(mode, amp)
    cases["compile_neurons"] = compile_case
    cases["compact_spikes"] = compact_case
    cases["learn 2 epochs"] = learn_case
    cases["vs spikingjelly"] = spikingjelly_case
    return cases


# ------------------------------------------------------------------------------ runner
def run_cases(
    cases: dict[str, Case],
    device: torch.device,
    log: Callable[[str], None] = lambda s: None,
    on_case: Callable[[dict], None] = lambda report: None,
) -> dict:
    """Run every case under its time guard; one failing never stops the others.

    ``log`` gets a line as each case starts and ends; ``on_case`` the report so far after
    each case (to save it, so a run cut short still leaves what it found).
    """
    profile = PROFILES[device.type]
    report = {"device": str(device), "profile": asdict(profile), "ok": True, "cases": []}
    started = time.perf_counter()
    for i, (name, case) in enumerate(cases.items(), 1):
        log(f"[{i}/{len(cases)}] {name} ...")
        t0 = time.perf_counter()
        try:
            with time_guard(profile.guard_s):
                check = case(device, profile)
        except Exception as e:  # a case's failure is its result
            check = Check("", False, f"{type(e).__name__}: {first_line(e)}", required=True)
        check.name = name  # cases return unnamed checks; one name per case, given here
        check.detail["seconds"] = round(time.perf_counter() - t0, 2)
        release(device)
        report["cases"].append(check.to_dict())
        report["ok"] = report["ok"] and (check.ok or not check.required)
        report["wall_s"] = round(time.perf_counter() - started, 1)
        word = "ok" if check.ok else ("FAIL" if check.required else "warn")
        log(f"    {word}: {check.message} ({check.detail['seconds']:.1f} s)")
        on_case(report)
    return report


def release(device: torch.device) -> None:
    """Free what a case left behind, so the next one's peak memory is its own."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
