"""``TrainConfig``: every knob of one BIRIL training run, validated at the edge.

One typed model serves Python callers, CLI flags, YAML files and sweep trials, so a bad
value fails the same way everywhere: before any data is loaded, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from results.errors import UserError, quote
from results.ratios import Ratio

# A ratio in the model; text (``"1:8:3"``) or three numbers on the way in, text on the way
# out (JSON, YAML, checkpoints), with nothing rounded.
RatioField = Annotated[
    Ratio,
    BeforeValidator(Ratio.parse),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["1:8:3"]}),
]


class RatioYAMLLoader(yaml.SafeLoader):
    """YAML 1.1 reads an unquoted ``1:8:3`` as the base-60 integer 4083; here it stays text."""


RatioYAMLLoader.yaml_implicit_resolvers = {
    key: list(resolvers) for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _digit in "0123456789":
    RatioYAMLLoader.yaml_implicit_resolvers.setdefault(_digit, []).insert(
        0, ("tag:yaml.org,2002:str", re.compile(r"^[0-9.]+:[0-9.]+:[0-9.]+$"))
    )


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work; the message names the field and the fix."""


class TrainConfig(BaseModel):
    """One training run. Defaults train ``digits`` to ≥98% test accuracy on a laptop CPU."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, arbitrary_types_allowed=True
    )

    # Data
    dataset: str = Field("digits", description="Dataset name (see `biril datasets`).")
    data_root: str | None = Field(
        None, description="Where datasets live (else $BIRIL_DATA, ~/.cache/biril/data)."
    )
    download: bool = Field(False, description="Download missing data.")
    val_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of the training set held out for validation."
    )
    split_seed: int = Field(0, description="Seed of the train/validation split.")
    train_subset: int | None = Field(
        None, ge=10,
        description="Train on a stratified, seeded (split_seed) subset of this many training "
        "images.",
    )
    labeled: int | None = Field(
        None, ge=10,
        description="Gradient steps see only this many labelled training images (stratified); "
        "STDP steps see all.",
    )

    # The BIRIL mix
    ratio: RatioField = Field(
        Ratio(1, 8, 3), description="STDP:STBP:STDP-STBP, e.g. 1:8:3 (any non-negative weights)."
    )
    order: Literal["interleaved", "blocked"] = Field(
        "interleaved",
        description="interleaved: every mode's count tracks its share at every step; "
        "blocked: the paper's cycles of a, b, c steps (integer ratios).",
    )
    granularity: Literal["iteration", "epoch"] = Field(
        "iteration", description="What one scheduled step is: an iteration or an epoch."
    )
    cyclic: Literal["sequential", "fused"] = Field(
        "sequential", description="STDP-STBP variant: STDP then STBP, or both in one pass."
    )

    # Network
    preset: str | None = Field(
        None, description="Network size: small | mnist | paper18 (default: the dataset's)."
    )
    time_steps: int | None = Field(
        None, ge=1, description="Simulation time steps (default: the dataset's)."
    )
    v_threshold: float = Field(1.0, gt=0.0, description="IF neuron firing threshold.")
    reset: Literal["hard", "soft"] = Field(
        "hard", description="After a spike: hard (to zero) or soft (subtract the threshold)."
    )
    alpha: float = Field(4.0, gt=0.0, description="Sharpness of the surrogate gradient.")

    # Readout
    head_pool: int = Field(
        1, ge=1, le=8,
        description="pool the last block to head_pool x head_pool before the head; 1 is the "
        "paper's global pooling, 4 keeps where features are (a labelled departure)",
    )
    probe: bool = Field(
        False,
        description="after training, fit a linear probe on the last block's time-averaged "
        "spike rates (global and 4x4 pooling) and score it on validation",
    )

    # STBP
    epochs: int = Field(30, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=2, description="Samples per iteration.")
    loss: Literal["mse", "ce"] = Field(
        "mse", description="mse (on firing rates, the paper's) or ce (cross-entropy)."
    )
    optimizer: Literal["adam", "sgd"] = Field("adam", description="STBP optimizer.")
    # 2e-3 (not the paper code's 1e-3) keeps digits 1:8:3 ≥98% test over seeds 0-2 in 30 epochs.
    lr: float = Field(2e-3, gt=0.0, description="STBP learning rate (cosine-annealed).")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum.")
    weight_decay: float = Field(0.0, ge=0.0, description="Optimizer weight decay.")

    # STDP
    stdp_lr: float = Field(
        2e-3, ge=0.0,
        description="rotation of a layer's filters per STDP step (radians, relative change); "
        "annealed with the gradient's cosine schedule; 0 is the frozen control",
    )
    stdp_until: float = Field(
        0.5, gt=0.0, le=1.0,
        description="fraction of training during which STDP acts; after it the convs hold "
        "still in STDP iterations (a head cannot learn on features that keep rotating)",
    )
    stdp_layerwise: bool = Field(
        False,
        description="greedy layer-wise STDP: the STDP period is split among the conv layers, "
        "stem first, and only the current layer learns",
    )
    stdp_kernel: Literal["hebbian", "balanced"] = Field(
        "hebbian",
        description="hebbian: causal LTP-only trace (A- = 0), right for static direct-encoded "
        "inputs; balanced: LTD summed over the window is stdp_balance x LTP, for event data "
        "with near-independent firing",
    )
    tau_plus: float = Field(2.0, gt=0.0, description="LTP trace time constant (steps)")
    tau_minus: float = Field(2.0, gt=0.0, description="LTD trace time constant (steps)")
    a_plus: float = Field(1.0, ge=0.0, description="LTP amplitude A+")
    a_minus: float | None = Field(
        None, ge=0.0, description="LTD amplitude A-; unset: from stdp_kernel"
    )
    stdp_balance: float = Field(
        1.05, gt=0.0, description="balanced kernel: LTD / LTP summed over the window"
    )
    stdp_same_step: Literal["causal", "ignore"] = Field(
        "causal",
        description="causal: a same-step pair potentiates (the input at t drives the output "
        "at t); ignore: the strict reading of Eq. 3",
    )
    stdp_winners: int = Field(
        1, ge=1,
        description="channels that learn at each position, those of strongest drive "
        "(winner-take-all); a value >= a layer's channels switches competition off",
    )
    stdp_center: bool = Field(
        True,
        description="covariance form: the presynaptic trace is centred over batch and "
        "positions, which supplies the depression for below-average inputs",
    )
    stdp_linear: bool = Field(False, description="Also apply STDP to FC1.")
    synaptic_norm: bool = Field(True, description="Keep each filter's norm through STDP.")
    # Conv STDP correlation precision; auto: bfloat16 where the device has it natively
    # (spikes are exact in it; the pair kernel, traces and ΔW round to ~2⁻⁹ relative each),
    # else float32.
    stdp_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="Conv STDP correlation precision (auto: bfloat16 where native)."
    )

    # Energy estimate (pJ per operation, 45 nm): accumulate per SOP, multiply-accumulate per MAC
    e_ac_pj: float = Field(0.9, gt=0.0, description="Energy of one accumulate (pJ).")
    e_mac_pj: float = Field(4.6, gt=0.0, description="Energy of one multiply-accumulate (pJ).")

    # Execution
    seed: int = Field(0, description="Seed of initialization and data order.")
    device: str | None = Field(
        None, description="cpu | cuda | cuda:N (default: cuda if available)."
    )
    amp: bool = Field(False, description="bf16 autocast (CUDA, or a CPU with AMX).")
    # Speed switches, same maths (float rounding aside): channels-last convs (oneDNN's and
    # cuDNN's faster layout: 1.3x a small-preset step on CPU), compiled IF scans.
    channels_last: bool = Field(True, description="Channels-last convs (same maths, faster).")
    # Spikes kept for backward as booleans (1 byte, not 4): less memory, two extra passes.
    compact_spikes: bool = Field(
        False, description="Keep spikes for backward as booleans (less memory)."
    )
    compile_neurons: bool = Field(False, description="torch.compile the IF time scans.")
    output_dir: str | None = Field(
        None, description="Checkpoint folder (default runs/<dataset>-<ratio>-seed<S>)."
    )
    resume_from: str | None = Field(None, description="Checkpoint file to continue from.")
    overwrite: bool = Field(
        False, description="Replace a checkpoint already in the output folder."
    )

    @field_validator("dataset")
    @classmethod
    def _check_dataset(cls, v: str) -> str:
        from .datasets import REGISTRY

        if v not in REGISTRY:
            raise ValueError(f"unknown dataset {quote(v)}; choose one of: {', '.join(REGISTRY)}")
        return v

    @field_validator("preset")
    @classmethod
    def _check_preset(cls, v: str | None) -> str | None:
        from .models import PRESETS

        if v is not None and v not in PRESETS:
            raise ValueError(f"unknown preset {quote(v)}; choose one of: {', '.join(PRESETS)}")
        return v

    @field_validator("device")
    @classmethod
    def _check_device(cls, v: str | None) -> str | None:
        return device_name(v)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> TrainConfig:
        """The YAML file's fields, ``overrides`` on top; a bad field is named in its file."""
        data = read_yaml(path)
        return validated({**data, **overrides}, lambda f: f if f in overrides else f"{path}: {f}")


def device_name(v: str | None) -> str | None:
    """A device the trainer understands (None for auto), else why not, listing the choices."""
    if v in (None, "auto"):
        return None
    if v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {quote(v)}")


def read_yaml(path: str | Path, name: str | None = None) -> dict:
    """The mapping of fields in a YAML file; a ``ConfigError`` naming it (as ``name``) if not.

    Binary files, malformed YAML and YAML that is not a mapping all end as one line.
    """
    name = name or str(path)
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: a binary file, not YAML; pass a YAML file of fields") from None
    except OSError as e:
        raise ConfigError(f"{name}: cannot read it ({e.strerror}); pass a YAML file") from None
    try:
        data = yaml.load(text, Loader=RatioYAMLLoader)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{name}: not valid YAML ({problem}{at}); fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping of fields, got {type(data).__name__}")
    return data


def describe_validation_error(err: ValidationError, name: Callable[[str], str] = str) -> str:
    """One line for all bad fields: ``field: problem``, each field named by ``name``.

    ``name`` says where the user wrote the field: a flag, a key of a YAML file.
    """
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field; check the spelling against the documented fields"
        if e["type"] not in ("extra_forbidden", "value_error", "missing"):
            msg = f"{msg} (got {quote(e['input'])})"
        lines.append(f"{name(loc)}: {msg}")
    return "; ".join(lines)


def validated(fields: dict, name: Callable[[str], str] = str) -> TrainConfig:
    """``TrainConfig(**fields)``, or one ``ConfigError`` line naming each field by ``name``."""
    try:
        return TrainConfig(**fields)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e, name)) from None


def build_config(**fields) -> TrainConfig:
    """``TrainConfig(**fields)`` with a one-line ``ConfigError`` instead of a report."""
    return validated(fields)
