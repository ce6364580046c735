"""Every figure of issue 26's table in one call: steps, STDP, FLOP/s, packing.

    python scripts/device_check.py --device cuda --out device_check/      # an H200: ~5 min
    python scripts/device_check.py --device cpu --preset small --batch-size 8 \\
        --stdp-batch 4 --reps 2 --packing-max 2 --out /tmp/check       # the harness on a CPU

It runs ``biril bench``'s library twice in one process — float32, then bf16 autocast —
over the step (each mode, SpikingJelly STBP, FLOPs and TFLOP/s against the device's
peak), the STDP update of a real step against SpikingJelly's learner, and (float32) the
profiler; then the packing probe of ``gpus_per_trial: auto`` on the MNIST network. It
prints one table of the figures with the targets beside them, and writes every raw
result as JSON under ``--out``. ``--capture compile`` adds the compiled step (minutes of
compilation per mode on a CPU; well under one on a GPU machine's cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from biril.bench import BenchOptions, run_suite
from biril.datasets import REGISTRY, data_root
from biril.datasets.inventory import counts
from biril.datasets.registry import split_indices
from sweeps.packing import choose_packing, probe_trials

# MNIST's training pool (the trainer holds out val_fraction of it for validation).
MNIST_POOL = 60_000


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--preset", default="paper18")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--stdp-batch", type=int, default=16)
    p.add_argument("--stdp-reps", type=int, default=2)
    p.add_argument("--profile-steps", type=int, default=3)
    p.add_argument("--capture", default="none", choices=("none", "compile"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--packing-dataset", default="mnist")
    p.add_argument("--packing-max", type=int, default=16, help="most trials per GPU to try")
    p.add_argument("--no-packing", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args()


def bench(args: argparse.Namespace, amp: bool) -> dict:
    sections = ("step", "stdp") + (() if amp else ("profile",))
    opts = BenchOptions(
        presets=(args.preset,),
        sections=sections,
        batch_size=args.batch_size,
        time_steps=args.time_steps,
        reps=args.reps,
        warmup=args.warmup,
        device=args.device,
        threads=args.threads,
        amp=amp,
        capture=args.capture,
        stdp_batch=args.stdp_batch,
        stdp_reps=args.stdp_reps,
        profile_steps=args.profile_steps,
    )
    return run_suite(opts, log=lambda s: print(f"[{'bf16' if amp else 'fp32'}] {s}",
                                               file=sys.stderr))


def packing(args: argparse.Namespace) -> dict:
    """The probe of ``gpus_per_trial: auto`` on the packing dataset's sweep network."""
    info = REGISTRY[args.packing_dataset]
    train = {"dataset": args.packing_dataset, "batch_size": 64}
    root = data_root(None)
    if not info.missing(root):
        n_train = counts(info, root, 0.1)["n_train"]
    else:  # no data on this machine: MNIST's split is known, others' are not
        n_train = len(split_indices(MNIST_POOL, 0.1, 0)[0]) if info.name == "mnist" else None
    steps_per_epoch = -(-n_train // 64) if n_train else None
    device = "cuda" if args.device.startswith("cuda") else "cpu"
    # Each trial gets its share of this machine's cores, as a sweep would pin them.
    cores = os.cpu_count() or 1
    chosen = choose_packing(
        lambda k: probe_trials(train, k, steps_per_epoch, device, max(1, cores // k)),
        args.packing_max,
    )
    return {"preset": info.preset, "steps_per_epoch": steps_per_epoch,
            **chosen.model_dump(mode="json")}


def fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def table(fp32: dict, bf16: dict, packed: dict | None, preset: str) -> list[str]:
    """The figures of issue 26's table, each with its target."""
    rows = ["| figure | float32 | bf16 autocast | target |", "|---|---|---|---|"]
    s32, s16 = fp32["steps"][preset], bf16["steps"][preset]

    def ms(r: dict, k: str) -> str:
        return fmt(r["median_s"][k] * 1e3 if k in r["median_s"] else None, ".1f") + " ms"

    rows.append(f"| STBP step | {ms(s32, 'stbp')} | {ms(s16, 'stbp')} | "
                "≤ 15 ms bf16 (paper18 b64 T4) |")
    for mode, key, target in (("STDP", "stdp_over_stbp", "≤ 1.05"),
                              ("STDP-STBP", "stdp_stbp_over_stbp", "≤ 1.35")):
        m = mode.lower().replace("-", "_")
        rows.append(f"| {mode} step | {ms(s32, m)} ({s32[key]:.2f}× STBP) | "
                    f"{ms(s16, m)} ({s16[key]:.2f}× STBP) | {target} × STBP |")
    rows.append(f"| SpikingJelly STBP step (float32) | {ms(s32, 'spikingjelly_stbp')} | — | |")
    rows.append(f"| STBP vs SpikingJelly (float32 SJ) | "
                f"{fmt(s32.get('speedup_vs_spikingjelly'), '.2f')}× | "
                f"{fmt(s16.get('speedup_vs_spikingjelly'), '.2f')}× | ≥ 1.5× |")
    f32, f16 = s32["flops"]["stbp"], s16["flops"]["stbp"]
    rows.append(f"| STBP GFLOP per step | {f32['gflop']:.0f} | {f16['gflop']:.0f} | |")
    rows.append(f"| STBP TFLOP/s | {f32['tflop_per_s']:.3g} | {f16['tflop_per_s']:.3g} | "
                "≥ 230 bf16 |")
    rows.append(f"| share of peak | {fmt(f32['share_of_peak'], '.1%')} | "
                f"{fmt(f16['share_of_peak'], '.1%')} | ({f16['peak']}) |")
    st32, st16 = fp32["stdp"][preset], bf16["stdp"][preset]
    rows.append(f"| STDP update of one step (apply_stdp) | {ms(st32, 'biril')} | "
                f"{ms(st16, 'biril')} | |")
    rows.append(f"| STDP update vs SpikingJelly STDPLearner | "
                f"{st32['speedup_vs_spikingjelly']:.1f}× | "
                f"{st16['speedup_vs_spikingjelly']:.1f}× | |")
    if "capture_speedup" in s32:
        for mode, r in s32["capture_speedup"].items():
            rows.append(f"| {mode} compiled / eager speed-up | {r:.2f}× | "
                        f"{s16['capture_speedup'][mode]:.2f}× | |")
    if packed is not None:
        probe = [p for p in packed["probe"] if p["fits"]]
        one = probe[0]["steps_per_s"]
        for p in packed["probe"]:
            gain = f"{p['steps_per_s'] / one:.2f}× one trial" if p["fits"] else p["reason"]
            rows.append(f"| packing {p['trials']} × {packed['preset']} | "
                        f"{fmt(p['steps_per_s'], '.1f')} steps/s, "
                        f"{fmt(p['peak_mb'], '.0f')} MiB each | {gain} | ≥ 3× one trial |")
        rows.append(f"| packing chosen | gpus_per_trial {packed['gpus_per_trial']:g} | "
                    f"{packed['reason']} | |")
    return rows


def main() -> None:
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {"fp32": bench(args, amp=False), "bf16": bench(args, amp=True)}
    results["packing"] = None if args.no_packing else packing(args)
    for name, r in results.items():
        (args.out / f"{name}.json").write_text(json.dumps(r, indent=1))
    lines = table(results["fp32"], results["bf16"], results["packing"], args.preset)
    lines.append(f"\n{time.perf_counter() - started:.0f} s in all, {results['fp32']['device']}")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
