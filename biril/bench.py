"""``biril bench``: the benchmark suite — every figure a ratio of medians taken in one run.

Seven sections, each comparing like with like inside one process, with the contenders
interleaved within every repetition so drift (thermal, other load) hits all alike:

1. ``neuron``: IF forward+backward against SpikingJelly 2.0's multi-step ``IFNode``;
2. ``step``: one training step per BIRIL mode against the same network written in
   SpikingJelly and trained by plain STBP, with each step's FLOPs (torch's counter) and
   the TFLOP/s it achieves next to the device's peak (``biril.flops``);
3. ``stdp``: the STDP work of a real training step (``BIRILStep.apply_stdp`` on the
   records of one forward pass) against SpikingJelly's ``STDPLearner`` on the same convs
   and spikes, with the numerical agreement of the two once conventions match;
4. ``sweep``: a sweep of short trials, wall time against (sum of trial times / slots) —
   in ``sweeps.bench``, since it needs Ray, which this library never imports;
5. ``memory``: peak memory of a training step per preset and mode;
6. ``store``: reading a results store of 1,000 and 10,000 trials (``load_trials``,
   ``biril best``, ``biril report``) against Optuna's own ``trials_dataframe()`` —
   in ``analysis.bench``, since the trainer library never reads the store;
7. ``profile``: ``torch.profiler`` over a few steps of each mode, per kernel and grouped
   by kind (``biril.profile``): where the time goes, not a comparison.

Figures survive a change of machine only as ratios; absolute medians are kept for context.
A section that cannot run (no SpikingJelly, no sweep or store runner given) reports ``null`` and a
``*_reason`` key instead of a number.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .capture import capture
from .config import ConfigError, TrainConfig, device_name
from .flops import achieved, count_flops, device_peak, step_precision
from .models import PRESETS, build_model
from .plasticity import STDPParams, stdp_delta
from .profile import profile_calls, stdp_scope
from .schedule import MODES, Mode
from .trainer import BIRILStep, resolve_device

SECTIONS = ("neuron", "step", "stdp", "sweep", "memory", "store", "profile")
# (in_channels, height/width, classes) of a typical dataset for each preset.
BENCH_INPUT = {"small": (1, 28, 10), "mnist": (1, 28, 10), "paper18": (3, 32, 10)}
SJ_STBP = "spikingjelly_stbp"


class BenchOptions(BaseModel):
    """What ``biril bench`` measures and at which sizes; validated before anything runs."""

    model_config = ConfigDict(extra="forbid")

    presets: tuple[str, ...] = ("small", "paper18")
    sections: tuple[str, ...] = SECTIONS
    batch_size: int = Field(64, ge=2)
    time_steps: int = Field(4, ge=1)
    reps: int = Field(5, ge=1)
    warmup: int = Field(2, ge=0)
    device: str | None = None
    # On a CPU shared with other jobs, wall time measures the neighbours as much as the
    # code: ``clock="cpu"`` times this process's CPU seconds (use with ``threads=1``).
    clock: Literal["wall", "cpu"] = "wall"
    threads: int | None = Field(None, ge=1)
    # Our trainer's switches (TrainConfig's defaults); SpikingJelly runs as shipped, float32.
    channels_last: bool = True
    stdp_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    amp: bool = False
    compact_spikes: bool = False
    compile_neurons: bool = False
    # compile: the step section also times each mode with the network captured
    # (biril.capture), against the eager step in the same run.
    capture: Literal["none", "compile"] = "none"
    # The STDP comparison's batch: SpikingJelly's learner builds [B, C_out, C_in, H, W]
    # temporaries per conv, so its batch is a separate knob.
    stdp_batch: int = Field(64, ge=2)
    stdp_reps: int = Field(3, ge=1)
    # Steps profiled per mode (after one untimed step), and rows kept per mode.
    profile_steps: int = Field(3, ge=1)
    profile_rows: int = Field(15, ge=1)
    sweep_trials: int = Field(8, ge=1)
    sweep_epochs: int = Field(3, ge=1)
    sweep_slots: int = Field(2, ge=1)
    # Synthetic results stores of these many trials; the growth exponent is taken between
    # the smallest and the largest.
    store_sizes: tuple[int, ...] = (1000, 10000)
    store_reps: int = Field(3, ge=1)

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if p not in BENCH_INPUT:
                raise ValueError(f"unknown preset {p!r}; choose from {', '.join(BENCH_INPUT)}")
        return v

    @field_validator("store_sizes")
    @classmethod
    def _store_sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or min(v) < 10:
            raise ValueError("give store sizes of at least 10 trials (e.g. 1000 and 10000)")
        return v

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if s not in SECTIONS:
                raise ValueError(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str | None) -> str | None:
        return device_name(v)


# ------------------------------------------------------------------------------ timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved_medians(
    contenders: dict[str, Callable[[], object]],
    reps: int,
    warmup: int,
    device: torch.device,
    clock: str = "wall",
) -> dict[str, float]:
    """Median seconds of each contender; every repetition runs all of them in turn."""
    now = CLOCKS[clock]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for rep in range(warmup + reps):
        for name, fn in contenders.items():
            sync(device)
            t0 = now()
            fn()
            sync(device)
            if rep >= warmup:
                times[name].append(now() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def spikingjelly_missing() -> str | None:
    """Why the SpikingJelly comparisons cannot run here, or None when they can."""
    from .bench_spikingjelly import spikingjelly

    try:
        spikingjelly()
    except ImportError as e:
        return str(e)
    return None


def our_model(preset: str, opts: BenchOptions, device: torch.device):
    """The preset's ``SpikingResNet`` with the speed switches of ``opts``."""
    c, _, classes = BENCH_INPUT[preset]
    model = build_model(
        preset, c, classes, opts.time_steps, neuron={"compile": opts.compile_neurons}
    ).to(device)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def train_config(preset: str, opts: BenchOptions) -> TrainConfig:
    """The trainer's config for a timed step, with the suite's switches."""
    return TrainConfig(
        preset=preset,
        time_steps=opts.time_steps,
        device=opts.device,
        channels_last=opts.channels_last,
        stdp_precision=opts.stdp_precision,
        amp=opts.amp,
        compact_spikes=opts.compact_spikes,
    )


def batch(preset: str, opts: BenchOptions, device: torch.device, size: int | None = None):
    """A random batch of the preset's typical input size (``opts.batch_size``), and labels."""
    c, hw, classes = BENCH_INPUT[preset]
    size = size or opts.batch_size
    x = torch.randn(size, c, hw, hw, device=device)
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, classes, (size,), device=device)


# ------------------------------------------------------------------------------ 1. neuron
def bench_neuron(opts: BenchOptions, device: torch.device) -> dict:
    """IF forward+backward on each preset's stem output ``[T, B, C, H, W]``."""
    return {preset: neuron_case(preset, opts, device) for preset in opts.presets}


def neuron_case(preset: str, opts: BenchOptions, device: torch.device) -> dict:
    from .bench_spikingjelly import if_node, run_if_node
    from .neurons import IFNeuron

    _, hw, _ = BENCH_INPUT[preset]
    arch = PRESETS[preset]
    size = -(-hw // arch.stem_stride)
    shape = (opts.time_steps, opts.batch_size, arch.stem_channels, size, size)
    torch.manual_seed(0)
    current = (0.8 * torch.randn(shape, device=device) + 0.4).requires_grad_()
    grad = torch.randn(shape, device=device)
    ours, sj = IFNeuron(compile=opts.compile_neurons), if_node().to(device)

    def fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            fn(current).backward(grad)
            current.grad = None

        return run

    med = interleaved_medians(
        {"biril": fwd_bwd(ours), "spikingjelly": fwd_bwd(lambda x: run_if_node(sj, x))},
        opts.reps,
        opts.warmup,
        device,
        opts.clock,
    )
    return {
        "shape": list(shape),
        "median_s": med,
        "speedup_vs_spikingjelly": med["spikingjelly"] / med["biril"],
    }


# ------------------------------------------------------------------------------ 2. step
def bench_steps(opts: BenchOptions, device: torch.device, with_sj: bool) -> dict:
    """Per preset: median step time of each BIRIL mode (and SpikingJelly STBP), and ratios."""
    return {preset: step_case(preset, opts, device, with_sj) for preset in opts.presets}


def step_case(preset: str, opts: BenchOptions, device: torch.device, with_sj: bool) -> dict:
    torch.manual_seed(0)
    model = our_model(preset, opts, device)
    config = train_config(preset, opts)
    step = BIRILStep(model, config, total_steps=10_000)
    x, y = batch(preset, opts, device)
    contenders: dict[str, Callable[[], object]] = {
        m.value: (lambda m=m: step(x, y, m)) for m in MODES
    }
    if opts.capture != "none":
        contenders.update(captured_steps(model, config, x, y, opts.capture, device))
    if with_sj:
        from .bench_spikingjelly import SJSpikingResNet, SJSTBPStep

        c, _, classes = BENCH_INPUT[preset]
        sj_model = SJSpikingResNet(PRESETS[preset], c, classes, opts.time_steps).to(device)
        sj_model.load_state_dict(model.state_dict())
        sj_step = SJSTBPStep(sj_model, lr=config.lr)
        x_sj = x.contiguous()
        contenders[SJ_STBP] = lambda: sj_step(x_sj, y)
    med = interleaved_medians(contenders, opts.reps, opts.warmup, device, opts.clock)
    # Ours in the precision of ``opts.amp``; SpikingJelly always runs float32.
    peaks = {name: device_peak(device, step_precision(device, opts.amp and name != SJ_STBP))
             for name in contenders}
    # A captured step does the eager step's FLOPs (the counter cannot see compiled kernels).
    counts = {name: count_flops(fn) for name, fn in contenders.items() if "+" not in name}
    flops = {
        name: {
            **achieved(counts[name.split("+")[0]], med[name], peaks[name][0]),
            "peak": peaks[name][1],
        }
        for name in contenders
    }
    ratios = {
        "stdp_stbp_over_stbp": med[Mode.STDP_STBP.value] / med[Mode.STBP.value],
        "stdp_over_stbp": med[Mode.STDP.value] / med[Mode.STBP.value],
    }
    if with_sj:
        ratios["speedup_vs_spikingjelly"] = med[SJ_STBP] / med[Mode.STBP.value]
    if opts.capture != "none":
        ratios["capture_speedup"] = {
            m.value: med[m.value] / med[f"{m.value}+{opts.capture}"] for m in MODES
        }
    return {
        "median_s": med,
        "samples_per_s": {k: opts.batch_size / v for k, v in med.items()},
        "flops": flops,
        **ratios,
    }


def captured_steps(model, config: TrainConfig, x, y, how: str, device: torch.device) -> dict:
    """Each mode's step on a captured copy of ``model``, compiled before any timing."""
    import copy

    twin = capture(copy.deepcopy(model), how, device)
    step = BIRILStep(twin, config, total_steps=10_000)
    for m in MODES:
        step(x, y, m)  # the compilation of this kind of step is not what a step costs
    return {f"{m.value}+{how}": (lambda m=m: step(x, y, m)) for m in MODES}


# ------------------------------------------------------------------------------ 3. stdp
def bench_stdp(opts: BenchOptions, device: torch.device) -> dict:
    """The STDP work of a training step, per preset: ours against ``STDPLearner``."""
    return {preset: stdp_case(preset, opts, device) for preset in opts.presets}


def stdp_case(preset: str, opts: BenchOptions, device: torch.device) -> dict:
    """``BIRILStep.apply_stdp`` on one real forward pass, against SpikingJelly on its convs.

    Ours is exactly what an STDP iteration of ``train()`` runs after its forward pass:
    the per-pass correlation of every recorded layer (trace, centring, winners, one
    weight-gradient-shaped correlation per layer), the rotation, synaptic normalization
    and the diagnostics. SpikingJelly's ``STDPLearner`` gets the same pre/post spikes of
    every recorded conv and computes its ΔW (the update alone: no competition, centring
    or normalization, which it does not have). Recording is the forward pass's job in
    both libraries, so neither side's recording is timed. The agreement figure is taken
    on the largest recorded conv with our competition and centring off, where the two
    rules are the same maths once conventions match (``SJConvSTDP``).
    """
    from .bench_spikingjelly import SJConvSTDP, same_step_corr

    torch.manual_seed(0)
    model = our_model(preset, opts, device)
    step = BIRILStep(model, train_config(preset, opts), total_steps=10_000)
    x, _ = batch(preset, opts, device, opts.stdp_batch)
    with torch.no_grad(), step.autocast:
        _, records = model(x, record=True)
    convs = [r[:3] for r in records if isinstance(r[0], torch.nn.Conv2d)]
    learners = [(SJConvSTDP(layer), pre, post) for layer, pre, post in convs]

    def ours() -> None:
        step.apply_stdp(records)

    def spikingjelly() -> list[torch.Tensor]:
        return [sj.delta() for sj, _, _ in learners]

    now = CLOCKS[opts.clock]
    times: dict[str, list[float]] = {"biril": [], "spikingjelly": []}
    for rep in range(1 + opts.stdp_reps):
        for sj, pre, post in learners:
            sj.record(pre.float(), post.float())
        for name, fn in (("biril", ours), ("spikingjelly", spikingjelly)):
            sync(device)
            t0 = now()
            fn()
            sync(device)
            if rep >= 1:
                times[name].append(now() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    layer, pre, post = max(convs, key=lambda r: r[0].weight.numel() * r[2][0, 0, 0].numel())
    pre, post = pre.float(), post.float()
    sj = SJConvSTDP(layer)
    sj.record(pre, post)
    ref = sj.delta() + same_step_corr(pre, post, layer)
    ours = stdp_delta(layer, pre, post, STDPParams(), torch.float32)
    T, B = post.shape[:2]
    scaled = ours * (B * post.shape[-2] * post.shape[-1] * T)
    error = float((scaled - ref).abs().max() / ref.abs().max())
    return {
        "batch": opts.stdp_batch,
        "layers": len(records),
        "spikingjelly_layers": len(convs),
        "median_s": med,
        "speedup_vs_spikingjelly": med["spikingjelly"] / med["biril"],
        "agreement_layer": {"weight": list(layer.weight.shape), "post": list(post.shape)},
        "max_rel_error_vs_spikingjelly": error,
        "convention": "tau_sj = 1/(1-exp(-1/tau)); dW_biril*B*H*W*T = dW_sj + A-*same-step corr",
    }


# ------------------------------------------------------------------------------ 7. profile
def bench_profile(opts: BenchOptions, device: torch.device) -> dict:
    """Per preset and mode: the profiler's kernels (top ``profile_rows``) and kinds."""
    out: dict = {}
    for preset in opts.presets:
        torch.manual_seed(0)
        model = our_model(preset, opts, device)
        step = BIRILStep(model, train_config(preset, opts), total_steps=10_000)
        step.apply_stdp = stdp_scope(step.apply_stdp)  # its operators count as "STDP update"
        x, y = batch(preset, opts, device)
        out[preset] = {mode.value: profile_mode(step, x, y, mode, opts) for mode in MODES}
    return out


def profile_mode(step: BIRILStep, x, y, mode: Mode, opts: BenchOptions) -> dict:
    device = x.device
    prof = profile_calls(lambda: step(x, y, mode), device, opts.profile_steps)
    prof["kernels"] = prof["kernels"][: opts.profile_rows]
    return prof


# ------------------------------------------------------------------------------ 5. memory
def bench_memory(opts: BenchOptions, device: torch.device, with_sj: bool) -> dict:
    """Peak working memory of a training step per preset and mode (and SpikingJelly STBP).

    CUDA: ``torch.cuda.max_memory_allocated`` in this process. CPU: a fresh subprocess per
    measurement, so no other section's memory is counted (see ``memory_of_steps``).
    """
    modes = [m.value for m in MODES] + ([SJ_STBP] if with_sj else [])
    method = "cuda_max_memory_allocated" if device.type == "cuda" else "linux_peak_rss_delta"
    out: dict = {"method": method}
    for preset in opts.presets:
        out[preset] = {}
        for mode in modes:
            args = {"preset": preset, "mode": mode, "options": opts.model_dump()}
            if device.type == "cuda":
                out[preset][mode] = memory_of_steps(args, device)
            else:
                out[preset][mode] = memory_in_subprocess(args)
    return out


def memory_in_subprocess(args: dict) -> float:
    code = "import sys; from biril.bench import memory_child; memory_child(sys.argv[1])"
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    if r.returncode != 0:
        raise RuntimeError(f"memory measurement failed: {r.stderr.strip().splitlines()[-1]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["peak_mb"]


def proc_status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"/proc/self/status has no {field}")


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS, so the resident set is what is still in use."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: freed pages may stay resident, which only lowers the figure


def memory_child(arg: str) -> None:
    """Entry point of the CPU memory subprocess: print ``{"peak_mb": ...}``."""
    print(json.dumps({"peak_mb": memory_of_steps(json.loads(arg), torch.device("cpu"))}))


def memory_of_steps(args: dict, device: torch.device) -> float:
    """MiB a training step needs above what model, optimizer state and batch already hold.

    One step runs first (optimizer state, kernel caches); the second is measured: on
    CUDA by the allocator's peak, on CPU (Linux) by the kernel's peak resident set
    (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the resident set before it.
    """
    opts = BenchOptions(**args["options"])
    preset, mode = args["preset"], args["mode"]
    torch.manual_seed(0)
    model = our_model(preset, opts, device)
    x, y = batch(preset, opts, device)
    if mode == SJ_STBP:
        from .bench_spikingjelly import SJSpikingResNet, SJSTBPStep

        c, _, classes = BENCH_INPUT[preset]
        model = SJSpikingResNet(PRESETS[preset], c, classes, opts.time_steps).to(device)
        sj_step = SJSTBPStep(model)
        x = x.contiguous()

        def run() -> None:
            sj_step(x, y)
    else:
        config = train_config(preset, opts)
        step = BIRILStep(model, config, total_steps=10_000)

        def run() -> None:
            step(x, y, Mode(mode))

    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    release_freed_memory()
    base = proc_status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak resident set := current resident set
    run()
    return proc_status_mb("VmHWM") - base


# ------------------------------------------------------------------------------ suite
def check_device(opts: BenchOptions) -> torch.device:
    """The device to measure on; ConfigError when the options cannot measure it."""
    device = resolve_device(opts.device)
    if opts.clock == "cpu" and device.type == "cuda":
        raise ConfigError("--clock cpu times CPU seconds, not GPU work: use --clock wall on CUDA")
    return device


def run_suite(
    opts: BenchOptions,
    log: Callable[[str], None] = lambda s: None,
    sweep: Callable[[BenchOptions], dict] | None = None,
    store: Callable[..., dict] | None = None,
) -> dict:
    """Run the chosen sections; one JSON-ready dict with the headline ratios on top.

    Headlines over several presets are the least favourable preset's figure. ``sweep`` runs
    the sweep section (``sweeps.bench.bench_sweep``, handed in by the CLI: the trainer
    library never imports Ray), ``store`` the store section (``analysis.bench.bench_store``,
    called with the sizes, the repetitions and ``log``).
    """
    device = check_device(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    missing_sj = spikingjelly_missing()
    result: dict = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "clock": opts.clock,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "options": opts.model_dump(),
    }
    wanted = set(opts.sections)

    def unavailable(key: str, reason: str) -> None:
        result[key] = None
        result[f"{key}_reason"] = reason

    if "neuron" in wanted:
        if missing_sj:
            unavailable("neuron_speedup_vs_spikingjelly", missing_sj)
        else:
            log("neuron: IF forward+backward vs SpikingJelly IFNode")
            result["neuron"] = bench_neuron(opts, device)
            result["neuron_speedup_vs_spikingjelly"] = min(
                r["speedup_vs_spikingjelly"] for r in result["neuron"].values()
            )
    if "step" in wanted:
        log(f"step: one training step per mode, {', '.join(opts.presets)}")
        steps = bench_steps(opts, device, with_sj=missing_sj is None)
        result["steps"] = steps
        result["stdp_stbp_over_stbp"] = max(r["stdp_stbp_over_stbp"] for r in steps.values())
        result["stdp_over_stbp"] = max(r["stdp_over_stbp"] for r in steps.values())
        stbp = [r["flops"][Mode.STBP.value] for r in steps.values()]
        result["stbp_tflop_per_s"] = min(f["tflop_per_s"] for f in stbp)
        shares = [f["share_of_peak"] for f in stbp]
        if None in shares:
            unavailable("stbp_share_of_peak", next(f["peak"] for f in stbp))
        else:
            result["stbp_share_of_peak"] = min(shares)
        if missing_sj:
            unavailable("step_speedup_vs_spikingjelly", missing_sj)
        else:
            result["step_speedup_vs_spikingjelly"] = min(
                r["speedup_vs_spikingjelly"] for r in steps.values()
            )
    else:
        for key in ("step_speedup_vs_spikingjelly", "stdp_stbp_over_stbp", "stdp_over_stbp",
                    "stbp_tflop_per_s", "stbp_share_of_peak"):
            unavailable(key, "section 'step' not run")
    if "stdp" in wanted and not missing_sj:
        log(f"stdp: a training step's STDP update vs STDPLearner (batch {opts.stdp_batch})")
        result["stdp"] = bench_stdp(opts, device)
        result["stdp_speedup_vs_spikingjelly"] = min(
            r["speedup_vs_spikingjelly"] for r in result["stdp"].values()
        )
    else:
        unavailable("stdp_speedup_vs_spikingjelly", missing_sj or "section 'stdp' not run")
    if "sweep" in wanted and sweep is None:
        unavailable("sweep_efficiency", "the sweep section runs from `biril bench` (Ray)")
    elif "sweep" in wanted:
        log(f"sweep: {opts.sweep_trials} short trials on {opts.sweep_slots} slots")
        result["sweep"] = sweep(opts)
        result["sweep_efficiency"] = result["sweep"].get("sweep_efficiency")
        if result["sweep_efficiency"] is None:
            result["sweep_efficiency_reason"] = result["sweep"]["sweep_efficiency_reason"]
    else:
        unavailable("sweep_efficiency", "section 'sweep' not run")
    if "store" in wanted and store is None:
        unavailable("store_load_over_optuna", "the store section runs from `biril bench`")
    elif "store" in wanted:
        log(f"store: synthetic stores of {', '.join(map(str, opts.store_sizes))} trials")
        result["store"] = store(opts.store_sizes, opts.store_reps, log)
        # load_trials against Optuna's trials_dataframe on the same store, the worst size.
        result["store_load_over_optuna"] = max(
            result["store"]["load_trials_over_trials_dataframe"].values()
        )
    else:
        unavailable("store_load_over_optuna", "section 'store' not run")
    if "profile" in wanted:
        log(f"profile: torch.profiler over {opts.profile_steps} steps per mode")
        result["profile"] = bench_profile(opts, device)
    if "memory" in wanted:
        if device.type == "cuda" or os.path.exists("/proc/self/clear_refs"):
            log("memory: peak per preset and mode")
            result["memory_mb"] = bench_memory(opts, device, with_sj=missing_sj is None)
        else:
            unavailable("memory_mb", "CPU peak memory needs Linux /proc/self/clear_refs")
    return result


def render(result: dict) -> list:
    """Rich tables of a suite result, for the terminal."""
    from rich.table import Table

    tables = []
    where = f"{result['device']}, {result['threads']} threads, {result['clock']} clock"
    head = Table(title=f"biril bench ({where})")
    head.add_column("figure")
    head.add_column("value")
    for key in (
        "step_speedup_vs_spikingjelly",
        "stdp_stbp_over_stbp",
        "stdp_over_stbp",
        "stdp_speedup_vs_spikingjelly",
        "stbp_tflop_per_s",
        "stbp_share_of_peak",
        "neuron_speedup_vs_spikingjelly",
        "sweep_efficiency",
        "store_load_over_optuna",
    ):
        if key in result:
            value = result[key]
            head.add_row(key, f"{value:.3f}" if value is not None else result[f"{key}_reason"])
    tables.append(head)
    if "steps" in result:
        t = Table(title=f"one training step, median ms (batch {result['options']['batch_size']})")
        for col in ("preset", *result["steps"][next(iter(result["steps"]))]["median_s"]):
            t.add_column(col)
        for preset, r in result["steps"].items():
            t.add_row(preset, *(f"{v * 1e3:.1f}" for v in r["median_s"].values()))
        tables.append(t)
        tables.append(flops_table(result["steps"]))
    if "stdp" in result:
        size = result["options"]["stdp_batch"]
        t = Table(title=f"STDP update of one step, median ms (batch {size})")
        for col in ("preset", "biril apply_stdp", "spikingjelly", "speed-up", "max rel. error"):
            t.add_column(col)
        for preset, r in result["stdp"].items():
            t.add_row(preset, *(f"{v * 1e3:.1f}" for v in r["median_s"].values()),
                      f"{r['speedup_vs_spikingjelly']:.2f}",
                      f"{r['max_rel_error_vs_spikingjelly']:.1e}")
        tables.append(t)
    for preset, modes in result.get("profile", {}).items():
        tables.extend(profile_tables(preset, modes))
    if "memory_mb" in result:
        mem = result["memory_mb"]
        t = Table(title=f"peak step memory, MiB ({mem['method']})")
        presets = [p for p in mem if p != "method"]
        for col in ("preset", *mem[presets[0]]):
            t.add_column(col)
        for preset in presets:
            t.add_row(preset, *(f"{v:.0f}" for v in mem[preset].values()))
        tables.append(t)
    return tables


def flops_table(steps: dict):
    """GFLOP per step, achieved TFLOP/s and share of peak, per preset and contender."""
    from rich.table import Table

    t = Table(title="FLOPs of a step (torch's counter) and achieved TFLOP/s")
    for col in ("preset", "step", "GFLOP", "TFLOP/s", "share of peak", "peak"):
        t.add_column(col)
    for preset, r in steps.items():
        for name, f in r["flops"].items():
            share = f"{f['share_of_peak']:.1%}" if f["share_of_peak"] is not None else "—"
            t.add_row(preset, name, f"{f['gflop']:.1f}", f"{f['tflop_per_s']:.3f}", share,
                      f["peak"])
    return t


def profile_tables(preset: str, modes: dict) -> list:
    """Per mode: time by kind of work, and the top kernels by self time."""
    from rich.table import Table

    tables = []
    for mode, prof in modes.items():
        t = Table(title=f"{preset} {mode}: {prof['total_ms']:.1f} ms per step ({prof['clock']})")
        for col in ("kernel / kind", "calls", "self ms", "share"):
            t.add_column(col)
        for kind, ms in prof["kinds_ms"].items():
            t.add_row(f"[bold]{kind}[/bold]", "", f"{ms:.2f}", f"{ms / prof['total_ms']:.1%}")
        for row in prof["kernels"]:
            t.add_row(row["name"][:70], f"{row['calls']:g}", f"{row['self_ms']:.2f}",
                      f"{row['share']:.1%}")
        tables.append(t)
    return tables
