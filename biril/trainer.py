"""``train(config)``: the BIRIL loop — one forward per mini-batch, one of three updates.

| mode      | STDP-eligible weights (convs)         | everything else (BN, FC, biases) |
|-----------|---------------------------------------|----------------------------------|
| STDP      | STDP step only (no gradient computed) | STBP gradient step               |
| STBP      | STBP gradient step                    | STBP gradient step               |
| STDP-STBP | STBP step, then STDP from same spikes | STBP gradient step               |

A checkpoint is written after every epoch; the shuffle/augmentation RNG of each epoch is
a function of (seed, epoch), so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from results.errors import UserError

from .capture import capture
from .checkpoint import (
    CHECKPOINT_NAME,
    load_states,
    own_output_dir,
    prepare_checkpoint,
    save_checkpoint,
)
from .compact import compact_spikes
from .config import ConfigError, TrainConfig
from .datasets import REGISTRY, DatasetSplits, load_dataset
from .datasets.subset import train_subset
from .diagnostics import STDPDiagnostics
from .energy import EnergyEstimate, EnergyMonitor
from .loader import DeviceLoader
from .memory import check_fits as check_memory
from .memory import out_of_memory_as_error
from .models import SpikeRateMonitor, SpikingResNet, build_model
from .plasticity import (
    STDPParams,
    filter_norms,
    native_bf16,
    renormalize_,
    rotate_,
    stdp_deltas,
)
from .probe import probe, probe_images
from .schedule import Mode, mode_counts, modes


class DivergenceError(UserError, RuntimeError):
    """The loss became NaN or infinite: the run cannot continue meaningfully."""


@dataclass
class EpochMetrics:
    """What a run reports after every epoch (and what a sweep trial sends to Tune)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    spike_rates: dict[str, float]
    mode_counts: dict[str, int]
    epoch_seconds: float
    samples_per_s: float
    lr: float
    checkpoint: str | None = None
    # Validation energy per sample (see biril.energy); 0 in checkpoints that predate it.
    sops_per_sample: float = 0.0
    macs_per_sample: float = 0.0
    energy_pj_per_sample: float = 0.0
    ann_energy_pj_per_sample: float = 0.0
    # Per STDP layer: stdp_step, grad_step, filter_cos, init_cos (biril.diagnostics).
    stdp: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class TrainResult:
    """The outcome of a full run: final validation and test accuracy and how it got there.

    Everything a run reports per epoch is read from its last epoch (``from_history``), so
    a field added to ``EpochMetrics`` under the same name reaches the result unchanged.
    """

    val_acc: float
    val_loss: float
    test_acc: float
    test_loss: float
    mode_counts: dict[str, int]
    epochs: int
    seconds: float
    ratio: str
    fractions: tuple[float, float, float]
    spike_rates: dict[str, float]
    checkpoint: str | None
    history: list[EpochMetrics] = field(default_factory=list)
    sops_per_sample: float = 0.0
    macs_per_sample: float = 0.0
    energy_pj_per_sample: float = 0.0
    ann_energy_pj_per_sample: float = 0.0
    stdp: dict[str, dict[str, float]] = field(default_factory=dict)
    # Linear-probe validation accuracy of the last block ({"gap", "pool4"}; biril.probe).
    probe: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_history(cls, history: list[EpochMetrics], **rest) -> TrainResult:
        """The last epoch's metrics under their own names, then ``rest`` (test, counts…)."""
        last = asdict(history[-1])
        shared = {f.name: last[f.name] for f in fields(cls) if f.name in last}
        return cls(**{**shared, "history": history, **rest})

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("history")
        return d


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def bir_loss(mean_out: torch.Tensor, target: torch.Tensor, kind: str, num_classes: int):
    """Eq. 4: ``1/(2S)·Σ‖y − ō‖²`` on the time-averaged output (or cross-entropy)."""
    if kind == "ce":
        return F.cross_entropy(mean_out.float(), target)
    onehot = F.one_hot(target, num_classes).to(torch.float32)
    return F.mse_loss(mean_out.float(), onehot, reduction="sum") / (2 * target.shape[0])


def stdp_params(config: TrainConfig, time_steps: int) -> STDPParams | None:
    """The run's Eq. 3 parameters: ``a_minus`` if given, else from ``stdp_kernel``.

    ``hebbian`` (default) is the causal LTP-only trace. A static image is direct-encoded,
    the same input at every step, so a post spike at step t adds ``c_t·x`` with
    ``c_t = Σ_s K[s, t]``; under the balanced kernel (T=4, τ=2, A−=2.56)
    ``c = [−2.07, −0.89, +0.42, +2.20]`` sums to −0.34, and a neuron driven at every step —
    the strongest responders, the ones competition picks — was depressed away from its own
    pattern (measured: cosine −0.14 to −0.72 with the Hebbian direction in every layer).
    With A− = 0 every ``c_t`` is positive; the centring of the covariance form supplies
    the depression for below-average inputs.

    ``balanced`` (Song, Miller & Abbott 2000) is right where firing is near-independent
    (event data). A single time step has no anti-causal pair, so no ``A−`` can balance it:
    with the covariance form it needs none (independent firing averages to zero there);
    without it such a run is refused if it applies STDP (``None`` if it never does).
    """
    same_step = config.stdp_same_step == "causal"
    ltp = (config.tau_plus, config.tau_minus, config.a_plus)
    if config.a_minus is not None:
        return STDPParams(*ltp, config.a_minus, same_step)
    if config.stdp_kernel == "hebbian":
        return STDPParams(*ltp, 0.0, same_step)
    try:
        return STDPParams.balanced(
            time_steps, tau_plus=config.tau_plus, tau_minus=config.tau_minus,
            a_plus=config.a_plus, balance=config.stdp_balance, same_step=same_step,
        )
    except ValueError as e:
        if config.stdp_center:  # no drift to balance: the covariance form has none
            return STDPParams(*ltp, config.a_plus, same_step)
        a, _, c = config.ratio.fractions
        if config.stdp_lr > 0 and a + c > 0:
            raise ConfigError(f"a_minus: {e}") from None
        return None


def stdp_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The conv STDP correlation's dtype for ``TrainConfig.stdp_precision`` on ``device``."""
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return getattr(torch, precision)


class BIRILStep:
    """One BIRIL update per call; owns the two optimizers and the STDP hyper-parameters."""

    def __init__(self, model: SpikingResNet, config: TrainConfig, total_steps: int) -> None:
        self.model = model
        self.config = config
        self.num_classes = model.fc2.out_features
        layers = model.stdp_layers()
        self.stdp_weights = [layer.weight for layer in layers]
        names = {module: name for name, module in model.named_modules()}
        self.diagnostics = STDPDiagnostics([(names[layer], layer) for layer in layers])
        params = list(model.parameters())
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(
                params, lr=config.lr, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = torch.optim.SGD(
                params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=max(1, total_steps)
        )
        # No optimizer state for STDP: the step is a rotation of a set size (rotate_), and
        # momentum or Adam would change that size behind the rate's back.
        self.stdp_rate = config.stdp_lr
        self.stdp = stdp_params(config, model.time_steps)
        device = next(model.parameters()).device
        self.stdp_dtype = stdp_dtype(config.stdp_precision, device)
        self.autocast = torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=config.amp
        )

    def in_stdp_phase(self) -> bool:
        """Whether this step is inside the first ``stdp_until`` of training, where STDP acts.

        After it the convs hold still in STDP iterations (the head and BN still learn) and
        STDP-STBP iterations are plain STBP: a head cannot learn on features that keep
        rotating (MNIST ``1:0:0`` with STDP throughout: 36 points below its frozen control).
        """
        return self.scheduler.last_epoch < self.config.stdp_until * self.scheduler.T_max

    def active_layers(self) -> slice:
        """The STDP layers that learn now: all, or (``stdp_layerwise``) one, stem first."""
        if not self.config.stdp_layerwise:
            return slice(None)
        period = self.config.stdp_until * self.scheduler.T_max
        i = min(len(self.stdp_weights) - 1, int(self.scheduler.last_epoch / period * len(
            self.stdp_weights)))
        return slice(i, i + 1)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, mode: Mode, supervised: bool = True
    ) -> tuple[float, int]:
        """Update on one batch; returns (loss, number correct) as Python numbers.

        ``supervised=False`` (the few-label regime's STDP iterations): no gradient step at
        all, so no label reaches any weight; STDP still learns from the batch.
        """
        # The frozen control (stdp_lr 0) runs the same schedule with STDP steps that
        # leave the convs as they are, so it records nothing.
        uses_stdp = mode is not Mode.STBP and self.in_stdp_phase() and self.config.stdp_lr > 0
        conv_grads = mode is not Mode.STDP and supervised
        # STDP iterations compute no conv weight gradients at all.
        for w in self.stdp_weights:
            w.requires_grad_(conv_grads)
        self.optimizer.zero_grad(set_to_none=True)
        # STDP's records keep the float spikes alive anyway: packing them would only add.
        compact = self.config.compact_spikes and not uses_stdp
        with self.autocast, compact_spikes(compact), torch.set_grad_enabled(supervised):
            out, records = self.model(x, record=uses_stdp)
        mean_out = out.mean(0)
        loss = bir_loss(mean_out, y, self.config.loss, self.num_classes)
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"loss became {loss.item()} in a {mode.value} step; lower --lr or --stdp-lr"
            )
        fused = mode is Mode.STDP_STBP and self.config.cyclic == "fused"
        norms = [filter_norms(w) for w in self.stdp_weights] if fused else None
        if supervised:
            self.gradient_step(loss, conv_grads)
        if uses_stdp:
            self.apply_stdp(records, norms)
        self.scheduler.step()
        self.anneal_stdp()
        for w in self.stdp_weights:
            w.requires_grad_(True)
        correct = (mean_out.argmax(1) == y).sum()
        return loss.item(), int(correct)

    def gradient_step(self, loss: torch.Tensor, conv_grads: bool) -> None:
        loss.backward()
        before = self.diagnostics.snapshot() if conv_grads else None
        self.optimizer.step()
        if before is not None:
            self.diagnostics.record("grad_step", before)

    def anneal_stdp(self) -> None:
        """Scale the STDP rotation by the gradient schedule's current factor.

        The gradient's steps shrink with its cosine schedule; STDP's shrink with them so
        the two stay within the same factor of each other all run long. A constant
        rotation keeps turning the filters after the gradient's rate has decayed and can
        no longer correct them (MNIST fell from 98% to 35% validation at epoch 6).
        """
        factor = self.scheduler.get_last_lr()[0] / self.config.lr
        self.stdp_rate = self.config.stdp_lr * factor

    @torch.no_grad()
    def apply_stdp(self, records, norms: list[torch.Tensor] | None = None) -> None:
        """Rotate each layer's filters by ``stdp_rate`` along ΔW, then synaptic normalization.

        ``norms`` (fused mode) are the filter norms from before this iteration's STBP
        step, so the combined update is normalized once; otherwise the norms are taken
        right before the STDP step.
        """
        active = self.active_layers()
        weights = self.stdp_weights[active]
        norms = [filter_norms(w) for w in weights] if norms is None else norms[active]
        before = self.diagnostics.snapshot()
        records = records[active]
        deltas = stdp_deltas(
            records, self.stdp, self.stdp_dtype, self.config.stdp_winners, self.config.stdp_center
        )
        for record, delta in zip(records, deltas, strict=True):
            rotate_(record.layer.weight, delta.to(record.layer.weight.dtype), self.stdp_rate)
        if self.config.synaptic_norm:
            for w, n in zip(weights, norms, strict=True):
                renormalize_(w, n)
        self.diagnostics.record("stdp_step", before)

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.anneal_stdp()

    def set_total_steps(self, total_steps: int) -> None:
        """Stretch the cosine schedule when a resumed run was given more epochs."""
        self.scheduler.T_max = max(1, total_steps)


@torch.no_grad()
def evaluate(
    model: SpikingResNet, loader: DeviceLoader, config: TrainConfig
) -> tuple[float, float, dict[str, float], EnergyEstimate]:
    """(loss, accuracy, spike rate per IF layer, energy per sample) over a whole split."""
    model.eval()
    total_loss, correct = 0.0, 0
    with SpikeRateMonitor(model) as monitor, EnergyMonitor(model) as energy, torch.autocast(
        device_type=loader.device.type, dtype=torch.bfloat16, enabled=config.amp
    ):
        for x, y in loader.batches():
            out, _ = model(to_time_major(x))
            mean_out = out.mean(0)
            nc = model.fc2.out_features
            total_loss += bir_loss(mean_out, y, config.loss, nc).item() * len(y)
            correct += int((mean_out.argmax(1) == y).sum())
    model.train()
    n = loader.num_samples
    cost = energy.estimate(n, config.e_ac_pj, config.e_mac_pj)
    return total_loss / n, correct / n, monitor.rates(), cost


def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """Event batches arrive ``[B, T, ...]``; the network wants ``[T, B, ...]``."""
    return x.transpose(0, 1) if x.dim() == 5 else x


def mode_schedule(config: TrainConfig, steps_per_epoch: int) -> list[Mode]:
    """The mode of every training step of the whole run."""
    ratio = config.ratio
    if config.granularity == "epoch":
        per_epoch = modes(ratio, config.epochs, config.order)
        return [m for m in per_epoch for _ in range(steps_per_epoch)]
    return modes(ratio, config.epochs * steps_per_epoch, config.order)


def build_for(config: TrainConfig, splits: DatasetSplits, device: torch.device):
    info = REGISTRY[config.dataset]
    model = build_model(
        config.preset or info.preset,
        in_channels=splits.in_channels,
        num_classes=splits.num_classes,
        time_steps=time_steps_for(config, splits),
        neuron={
            "v_threshold": config.v_threshold,
            "reset": config.reset,
            "alpha": config.alpha,
            "compile": config.compile_neurons,
        },
        stdp_linear=config.stdp_linear,
        head_pool=config.head_pool,
    )
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return capture(model, config.capture, device)


def time_steps_for(config: TrainConfig, splits: DatasetSplits) -> int:
    if splits.is_events:
        return splits.input_shape[0]
    return config.time_steps or REGISTRY[config.dataset].time_steps


EpochCallback = Callable[[EpochMetrics], None]


def load_splits(config: TrainConfig) -> DatasetSplits:
    """The run's data: the dataset's splits, its training part cut to ``train_subset``."""
    splits = load_dataset(
        config.dataset,
        config.data_root,
        val_fraction=config.val_fraction,
        split_seed=config.split_seed,
        download=config.download,
        time_steps=config.time_steps,
    )
    for flag, n in (("--train-subset", config.train_subset), ("--labeled", config.labeled)):
        if n is not None and n > len(splits.train_y):
            raise ConfigError(
                f"{flag}: {n} is more than the {len(splits.train_y)} training images of "
                f"{config.dataset}; pass at most that"
            )
    if config.train_subset is not None:
        splits = train_subset(splits, config.train_subset, config.split_seed)
    return splits


@dataclass
class Batches:
    """Where each step's batch comes from: every training image, or only the labelled ones.

    An epoch is a pass over the training split. With ``labeled`` set, steps that take a
    gradient draw from a stratified labelled subset instead, cycling through it (a new
    permutation per pass, a function of seed, epoch and pass, so a resumed run replays
    it); STDP iterations of the STDP phase see every image and no label.
    """

    train: DeviceLoader
    labeled: DeviceLoader | None

    @classmethod
    def build(cls, config: TrainConfig, splits: DatasetSplits, device: torch.device):
        train = DeviceLoader(splits, "train", config.batch_size, device, train=True)
        if config.labeled is None:
            return cls(train, None)
        few = train_subset(splits, config.labeled, config.split_seed)
        return cls(train, DeviceLoader(few, "train", config.batch_size, device, train=True))

    def labeled_stream(self, seed: int, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for n in itertools.count():
            yield from self.labeled.batches(seed, epoch * 100_003 + n)


def run_epoch(
    step: BIRILStep,
    batches: Batches,
    schedule: list[Mode],
    epoch: int,
    config: TrainConfig,
    progress: Callable[[int, int], None] | None,
) -> tuple[float, float, int, float]:
    """One pass of training steps: (mean loss, accuracy, images seen, seconds)."""
    t0 = time.perf_counter()
    per_epoch = len(batches.train)
    labeled = batches.labeled_stream(config.seed, epoch) if batches.labeled else None
    loss_sum, correct, seen = 0.0, 0, 0
    for i, (x, y) in enumerate(batches.train.batches(config.seed, epoch)):
        mode = schedule[epoch * per_epoch + i]
        supervised = labeled is None or not (mode is Mode.STDP and step.in_stdp_phase())
        if labeled is not None and supervised:
            x, y = next(labeled)
        loss, c = step(to_time_major(x), y, mode, supervised)
        loss_sum += loss * len(y)
        correct += c
        seen += len(y)
        if progress is not None:
            progress(i + 1, per_epoch)
    if batches.train.device.type == "cuda":
        torch.cuda.synchronize(batches.train.device)
    return loss_sum / seen, correct / seen, seen, time.perf_counter() - t0


def epoch_metrics(
    epoch: int, step: BIRILStep, val: DeviceLoader, schedule: list[Mode], config: TrainConfig,
    trained: tuple[float, float, int, float], started: float, ckpt: Path | None,
) -> EpochMetrics:
    """Validate after an epoch and gather what the epoch reports."""
    loss, acc, seen, seconds = trained
    val_loss, val_acc, rates, cost = evaluate(step.model, val, config)
    per_epoch = len(schedule) // config.epochs
    return EpochMetrics(
        epoch=epoch + 1,
        train_loss=loss,
        train_acc=acc,
        val_loss=val_loss,
        val_acc=val_acc,
        spike_rates=rates,
        mode_counts=mode_counts(schedule[: (epoch + 1) * per_epoch]),
        epoch_seconds=time.perf_counter() - started,
        samples_per_s=seen / seconds,
        lr=step.scheduler.get_last_lr()[0],
        checkpoint=str(ckpt) if ckpt else None,
        sops_per_sample=cost.sops_per_sample,
        macs_per_sample=cost.macs_per_sample,
        energy_pj_per_sample=cost.energy_pj_per_sample,
        ann_energy_pj_per_sample=cost.ann_energy_pj_per_sample,
        stdp=step.diagnostics.epoch_summary(),
    )


def save_epoch(path: Path, step: BIRILStep, history: list[EpochMetrics], config: TrainConfig):
    save_checkpoint(
        path,
        {
            "model": step.model.state_dict(),
            "step": step.state_dict(),
            "epoch": history[-1].epoch,
            "history": [asdict(h) for h in history],
            "config": config.model_dump(),
        },
    )


def train(
    config: TrainConfig,
    callback: EpochCallback | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train one BIRIL run to completion (or resume one) and report its test accuracy.

    ``callback(metrics)`` runs after every epoch, once the checkpoint is on disk;
    ``progress(step, steps_per_epoch)`` after every training step (for progress bars).

    >>> r = train(TrainConfig(dataset="digits", ratio="1:8:3", epochs=1))  # doctest: +SKIP

    The run holds its output folder for its whole length: a second run into it is refused.
    """
    # Before any allocation or folder: refuse a run that cannot fit its device.
    check_memory(config, resolve_device(config.device))
    with own_output_dir(config), out_of_memory_as_error(config):
        return _train(config, callback, progress)


def _train(
    config: TrainConfig,
    callback: EpochCallback | None,
    progress: Callable[[int, int], None] | None,
) -> TrainResult:
    started = time.perf_counter()
    resumed = prepare_checkpoint(config)  # before any work: the output folder, what resumes
    device = resolve_device(config.device)
    splits = load_splits(config)
    seed_everything(config.seed)
    model = build_for(config, splits, device)
    batches = Batches.build(config, splits, device)
    eval_size = max(config.batch_size, 256)
    val = DeviceLoader(splits, "val", eval_size, device)
    schedule = mode_schedule(config, len(batches.train))
    step = BIRILStep(model, config, total_steps=len(schedule))

    start_epoch, history = 0, []
    if resumed is not None:
        load_states(resumed, model, step, config.resume_from)
        step.set_total_steps(len(schedule))  # the run may have been extended
        start_epoch = resumed["epoch"]
        history = [EpochMetrics(**h) for h in resumed["history"]]
    ckpt = Path(config.output_dir) / CHECKPOINT_NAME if config.output_dir else None

    model.train()
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        trained = run_epoch(step, batches, schedule, epoch, config, progress)
        history.append(epoch_metrics(epoch, step, val, schedule, config, trained, t0, ckpt))
        if ckpt is not None:
            save_epoch(ckpt, step, history, config)
        if callback is not None:
            callback(history[-1])

    test_loss, test_acc, _, _ = evaluate(model, DeviceLoader(splits, "test", eval_size, device),
                                         config)
    probed = {}
    if config.probe:
        fit_on = probe_images(splits, config.split_seed)
        probed = probe(model, DeviceLoader(fit_on, "train", eval_size, device), val, config.amp)
    return TrainResult.from_history(
        history,
        test_acc=test_acc,
        test_loss=test_loss,
        mode_counts=mode_counts(schedule),
        epochs=config.epochs,
        seconds=time.perf_counter() - started,
        ratio=str(config.ratio),
        fractions=config.ratio.fractions,
        checkpoint=str(ckpt) if ckpt else None,
        probe=probed,
    )
