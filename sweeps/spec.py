"""``SweepSpec``: one ratio sweep — what to train, where to search, how to run it — from YAML.

The spec is validated completely before Ray starts: a typo in a field name or an
impossible value fails in a second, naming the YAML path of the field and the file,
instead of after the cluster has spun up.
"""

from __future__ import annotations

import re
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from biril import TrainConfig
from biril.bounded_input import clip
from biril.config import ConfigError, read_yaml
from results import layout
from results.errors import UserError, quote
from results.ratios import BASELINES, PAPER_RATIOS, Ratio, RatioError
from results.schema import OBJECTIVES

from .samplers import MULTI_OBJECTIVE_SAMPLERS, SamplerName
from .simplex import Bounds, lattice_points

DEFAULT_SPEC = "digits"
# Trial fields the sweep itself sets; a value in the spec's ``train`` block would be ignored.
SWEEP_OWNED = {
    "ratio": "the search sets each trial's ratio",
    "output_dir": "each trial checkpoints into its own Tune trial folder",
    "resume_from": "trials resume from their Tune checkpoint",
    "overwrite": "each trial writes a fresh Tune trial folder",
}
# Trial fields a spec's search.params may not vary, and why.
NOT_SEARCHABLE = {
    **SWEEP_OWNED,
    "seed": "the sweep sets each trial's seed (train.seed, then the confirmation seeds)",
    "dataset": "a sweep is over one dataset",
    "epochs": "early stopping and full runs count epochs against train.epochs",
    "device": "trials use the device Ray assigns them",
}
# Spec fields a resumed sweep may change.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A sweep name is a folder name and part of a study name: well under the 255 bytes a
# filesystem allows for one name, with room for Tune's suffixes.
MAX_NAME_CHARS = 100


class SweepError(UserError, ValueError):
    """A sweep that cannot start (bad spec, options or store); the message says how to fix it."""


class SpecError(SweepError):
    """A sweep spec that cannot run; the message names the file and the YAML path of the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Confirm(_Model):
    """The confirmation stage: the ``top_k`` best ratios re-run with ``seeds`` more seeds.

    The extra seeds are ``train.seed + 1 … train.seed + seeds``, so with the search run
    every confirmed ratio has ``seeds + 1`` runs for a mean and confidence interval. Pure
    STBP ``0:1:0`` always runs with the same ``seeds + 1`` seeds beside them, so "does the
    best ratio beat plain STBP?" rests on several seeds on both sides.
    """

    top_k: int = Field(2, ge=1)
    seeds: int = Field(2, ge=1)
    # Each confirmed ratio also runs its frozen twin (stdp_lr 0: the same schedule with the
    # conv weights untouched in STDP iterations) on all its seeds, so the summary can say
    # what STDP adds there (``stdp_effect``). A ratio with no STDP share has no twin.
    controls: bool = False
    # fixed: every top ratio gets every extra seed. racing (``sweeps.racing``): the top_k
    # ratios get the seeds one a round, a ratio leaving once a paired test puts it below
    # the leader, at most ``budget`` runs (default top_k × seeds: never more than fixed).
    scheme: Literal["fixed", "racing"] = "fixed"
    budget: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _budget_races(self) -> Confirm:
        if self.budget is not None and self.scheme != "racing":
            raise ValueError("budget caps a race: set scheme: racing, or leave budget out")
        return self

    @property
    def racing_budget(self) -> int:
        return self.budget or self.top_k * self.seeds


class Param(_Model):
    """One more search dimension, a ``TrainConfig`` field searched jointly with the ratio.

    A range ``low``..``high`` (``log: true`` for a log scale) for a number field — whole
    numbers for an integer field — or a list of ``choices`` for any field.
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | bool | int | float | None] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _range_or_choices(self) -> Param:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("give a range (low, high, log) or choices, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("needs low and high (a range), or choices (a list of values)")
        if not self.low < self.high:
            raise ValueError(
                f"empty bounds: low ({self.low:g}) must be below high ({self.high:g})"
            )
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got {self.low:g}")
        return self

    @property
    def values(self) -> dict[str, Any]:
        """The values it spans, by name: its bounds, or each choice."""
        if self.choices is not None:
            return {f"choices[{i}]": v for i, v in enumerate(self.choices)}
        return {"low": self.low, "high": self.high}


def number_type(field: str) -> type | None:
    """``int`` or ``float`` for a numeric ``TrainConfig`` field (optional too), else None."""
    annotation = TrainConfig.model_fields[field].annotation
    types = set(typing.get_args(annotation)) - {type(None)} or {annotation}
    return next((t for t in (int, float) if types == {t}), None)


class Lattice(_Model):
    """The integer grid ``a:b:c`` with ``a + b + c = total``, sampled or searched exhaustively."""

    total: int = Field(12, ge=1)
    exhaustive: bool = False


class Search(_Model):
    """Where Optuna looks for the ratio, and how many trials it gets."""

    space: Literal["simplex", "lattice"] = "simplex"
    lattice: Lattice = Lattice()
    sampler: SamplerName = "tpe"
    seed: int = 0
    num_trials: int = Field(20, ge=1, description="search-stage trials, warm starts included")
    warm_start: list[str] = Field(default_factory=lambda: [*PAPER_RATIOS, *BASELINES.values()])
    bounds: Bounds = Bounds()
    # More dimensions searched jointly with the ratio: TrainConfig field -> its range.
    params: dict[str, Param] = Field(default_factory=dict)
    confirm: Confirm | None = None

    @field_validator("warm_start")
    @classmethod
    def _ratios(cls, v: list[str]) -> list[str]:
        out = []
        for i, text in enumerate(v):
            try:
                out.append(str(Ratio.parse(text)))
            except RatioError as e:
                raise ValueError(f"entry {i} ({quote(text)}): {e}") from None
        return out


class Scheduler(_Model):
    """Early stopping: ASHA on validation accuracy per epoch, or none."""

    type: Literal["asha", "none"] = "asha"
    grace_period: int = Field(3, ge=1, description="epochs every trial runs before a cut")
    reduction_factor: float = Field(3.0, gt=1.0)


class Resources(_Model):
    """What each trial actor holds; Ray packs fractional GPUs onto one device."""

    cpus_per_trial: float = Field(1.0, gt=0.0)
    # auto: a short probe on this machine's GPU picks the trials per GPU (sweeps.packing).
    gpus_per_trial: float | Literal["auto"] = 0.0
    max_concurrent: int | None = Field(None, ge=1)
    # A new trial actor costs seconds (a process importing torch); reusing one, ~0.1 s.
    reuse_actors: bool = True

    @field_validator("gpus_per_trial", mode="before")
    @classmethod
    def _auto_or_one_gpu_at_most(cls, v: Any) -> float | str:
        # A trial trains on one device: a second GPU would be reserved and sit idle. Data
        # parallelism is not offered because it would change what a trial measures (STDP's
        # per-batch statistics and the batch each step sees) and a sweep is already parallel
        # across trials, one per GPU.
        if v == "auto":
            return v
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"expected a number of GPUs >= 0 or 'auto', got {v!r}")
        if v > 1:
            raise ValueError(
                f"{v:g} GPUs per trial: a trial trains on one GPU (no data parallelism), so "
                "the others would be reserved and sit idle; use gpus_per_trial: 1 (or a "
                "fraction to pack trials, or auto to measure the packing) and let more trials "
                "run at once (max_concurrent)"
            )
        return v


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str | float) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1.5d"`` in seconds (ValueError otherwise)."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r}: give a positive duration such as 90s, 30m, 2h or 1.5d (seconds if "
            "no unit)"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class Stop(_Model):
    """When a sweep ends before its trials run out (``sweeps.budget``): ``time_budget``
    of wall time for this run, after which running trials stop at their next epoch's
    checkpoint and no new trial starts."""

    time_budget: str | float | None = None

    @field_validator("time_budget")
    @classmethod
    def _duration(cls, v: str | float | None) -> str | float | None:
        if v is not None:
            duration_seconds(v)
        return v

    @property
    def seconds(self) -> float | None:
        return None if self.time_budget is None else duration_seconds(self.time_budget)


class Failure(_Model):
    max_failures: int = Field(1, ge=-1, description="retries per trial; -1: unlimited")


class Checkpoints(_Model):
    num_to_keep: int = Field(1, ge=1)


class MLflowLogging(_Model):
    """MLflow: one run per trial, in ``tracking_uri`` (default: a SQLite database,
    ``mlflow.db`` in the sweep's results folder) under ``experiment`` (default: the study
    name)."""

    tracking_uri: str | None = None
    experiment: str | None = None


class WandbLogging(_Model):
    """Weights & Biases: one run per trial in ``project`` (default ``<dataset>-<sweep>``),
    grouped by ``group`` (default: the study name). Log in first (``wandb login``, or
    ``WANDB_API_KEY``); ``WANDB_MODE=offline`` keeps the runs on disk."""

    project: str | None = None
    group: str | None = None


class Logging(_Model):
    """Experiment trackers (``sweeps.trackers``): TensorBoard files in every trial folder
    unless ``tensorboard: false``; MLflow and W&B when their block is given (``{}`` for the
    defaults) and their package is installed. Trackers change no result, so a resumed
    sweep may change them."""

    tensorboard: bool = True
    mlflow: MLflowLogging | None = None
    wandb: WandbLogging | None = None


class SweepSpec(_Model):
    """A whole sweep. ``train`` holds ``biril.TrainConfig`` fields shared by every trial.

    >>> spec = load_spec("digits")
    >>> spec.train.dataset, spec.search.num_trials  # doctest: +SKIP
    """

    name: str = "sweep"
    description: str = ""
    # accuracy: maximize validation accuracy. accuracy_energy: a multi-objective search,
    # validation accuracy (max) and energy per validation sample in pJ (min).
    objective: Literal["accuracy", "accuracy_energy"] = "accuracy"
    train: TrainConfig = TrainConfig()
    search: Search = Search()
    scheduler: Scheduler = Scheduler()
    resources: Resources = Resources()
    failure: Failure = Failure()
    checkpoint: Checkpoints = Checkpoints()
    stop: Stop = Stop()
    logging: Logging = Logging()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME_PATTERN.match(v):
            raise ValueError(
                f"{quote(v)} must be letters, digits, '.', '_' or '-' (it names a "
                "folder and a study)"
            )
        if len(v) > MAX_NAME_CHARS:
            raise ValueError(
                f"is {len(v)} characters long; at most {MAX_NAME_CHARS} (it names a folder)"
            )
        return v

    @field_validator("train", mode="before")
    @classmethod
    def _no_sweep_owned(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for key, why in SWEEP_OWNED.items():
                if key in v:
                    raise ValueError(f"{key!r} cannot be set here: {why}")
            device = v.get("device")
            if device not in (None, "auto", "cpu"):
                raise ValueError(
                    f"device {quote(device)}: trials use the GPU Ray assigns them; "
                    "leave it unset or use 'cpu' to force the CPU"
                )
        return v

    @model_validator(mode="after")
    def _fits(self) -> SweepSpec:
        s = self.search
        exhaustive = s.space == "lattice" and s.lattice.exhaustive
        if (
            self.objective == "accuracy_energy"
            and s.sampler not in MULTI_OBJECTIVE_SAMPLERS
            and not exhaustive
        ):
            raise ValueError(
                f"search.sampler: {s.sampler} cannot search two objectives; with objective: "
                f"accuracy_energy use one of {', '.join(MULTI_OBJECTIVE_SAMPLERS)}"
            )
        if self.train.order == "blocked" and s.space != "lattice":
            raise ValueError(
                "train.order: blocked needs integer ratios a:b:c; use search.space: lattice "
                "(or order: interleaved on the simplex)"
            )
        if len(s.warm_start) > s.num_trials:
            raise ValueError(
                f"search.warm_start has {len(s.warm_start)} ratios but search.num_trials is "
                f"{s.num_trials}: raise num_trials or shorten the list"
            )
        if s.confirm and s.confirm.top_k > s.num_trials:
            raise ValueError(
                f"search.confirm.top_k ({s.confirm.top_k}) exceeds search.num_trials "
                f"({s.num_trials})"
            )
        if self.scheduler.type == "asha" and self.scheduler.grace_period > self.train.epochs:
            raise ValueError(
                f"scheduler.grace_period ({self.scheduler.grace_period}) exceeds "
                f"train.epochs ({self.train.epochs})"
            )
        for name, param in s.params.items():
            self._check_param(name, param)
        if s.params and exhaustive:
            raise ValueError(
                "search.params: an exhaustive lattice search visits each point once and "
                "searches nothing else; set search.lattice.exhaustive: false to search them"
            )
        c = s.confirm
        if c and c.controls and self.train.stdp_lr == 0 and "stdp_lr" not in s.params:
            raise ValueError(
                "search.confirm.controls: train.stdp_lr is 0, so every run is already its "
                "frozen control; set a positive train.stdp_lr or controls: false"
            )
        if s.space == "lattice":
            points = lattice_points(s.lattice.total, s.bounds)
            if not points:
                raise ValueError(
                    f"search.bounds leave no lattice point a:b:c with a+b+c = {s.lattice.total}"
                )
            if s.lattice.exhaustive and s.num_trials > len(points):
                raise ValueError(
                    f"search.num_trials ({s.num_trials}) exceeds the {len(points)} lattice "
                    "points an exhaustive search can visit"
                )
        return self

    def _check_param(self, name: str, param: Param) -> None:
        """A searched field exists, may vary, and takes every value its range spans."""
        path = f"search.params.{name}"
        if name not in TrainConfig.model_fields:
            raise ValueError(
                f"{path}: unknown TrainConfig field; check the spelling against the "
                "fields of biril.TrainConfig (`biril train --help`)"
            )
        if name in NOT_SEARCHABLE:
            raise ValueError(f"{path}: cannot be searched: {NOT_SEARCHABLE[name]}")
        kind = number_type(name)
        if param.choices is None and kind is None:
            raise ValueError(f"{path}: {name} is not a number; list its values as choices")
        if param.choices is None and kind is int and not (
            param.low.is_integer() and param.high.is_integer()
        ):
            raise ValueError(f"{path}: {name} is an integer; low and high must be whole numbers")
        base = self.train.model_dump()
        for where, value in param.values.items():
            try:
                TrainConfig(**{**base, name: value})
            except ValidationError as e:
                problem = e.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{path}.{where}: {problem} (got {quote(value)})") from None

    @property
    def dataset(self) -> str:
        return self.train.dataset

    @property
    def study_name(self) -> str:
        return layout.study_name(self.dataset, self.name)

    @property
    def metrics(self) -> list[str]:
        """The study's objectives, in order: validation accuracy first, always."""
        return list(OBJECTIVES[self.objective])

    @property
    def modes(self) -> list[str]:
        return ["max", "min"][: len(self.metrics)]

    @property
    def num_confirm_trials(self) -> int:
        """The most confirmation trials there can be: ``seeds`` per top ratio, pure STBP at
        the search seed and each of those (fewer when STBP ran in the search or is a top
        ratio itself), and with ``controls`` each top ratio's frozen twin on all its seeds."""
        c = self.search.confirm
        if c is None:
            return 0
        return c.top_k * c.seeds + c.seeds + 1 + (c.top_k * (c.seeds + 1) if c.controls else 0)

    @property
    def num_trials(self) -> int:
        """Every trial the sweep may run (an upper bound): search plus confirmation stage."""
        return self.search.num_trials + self.num_confirm_trials

    def to_store(self) -> dict:
        """The spec as a JSON-able dict (the study's ``spec`` user attribute); parses back."""
        return self.model_dump(mode="json", exclude={"train": set(SWEEP_OWNED)})


def shipped_specs() -> list[str]:
    """Names of the specs shipped with the package (``biril sweep NAME``)."""
    folder = resources.files("sweeps") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def spec_path(spec: str | Path | None) -> Path:
    """A file path, or a shipped spec's path for a bare name (None: the digits spec)."""
    if spec is None:
        spec = DEFAULT_SPEC
    text = str(spec)
    if isinstance(spec, str) and "/" not in text and not text.endswith((".yaml", ".yml")):
        if text not in shipped_specs():
            raise SpecError(
                f"no shipped spec named {quote(text)}; choose one of "
                f"{', '.join(shipped_specs())} or give a path to a YAML file"
            )
        return Path(str(resources.files("sweeps") / "specs" / f"{text}.yaml"))
    path = Path(text).expanduser()
    try:
        found = path.exists()
    except OSError as e:  # a name too long for the filesystem, say
        raise SpecError(f"{clip(path)}: cannot look it up ({e.strerror})") from None
    if not found:
        raise SpecError(f"{clip(path)}: spec file not found")
    return path


def load_spec(spec: str | Path | None = None, **overrides: Any) -> SweepSpec:
    """Read and validate a spec: a YAML path, a shipped name like ``mnist``, or None (digits).

    ``overrides`` replace top-level fields (e.g. ``name=``) before validation.
    """
    path = spec_path(spec)
    try:  # the same bounded, one-line reading as a train --config file
        data = read_yaml(path)
    except ConfigError as e:
        raise SpecError(str(e)) from None
    return parse_spec({**data, **overrides}, source=str(path))


def parse_spec(data: dict, source: str = "<spec>") -> SweepSpec:
    """Validate a spec given as a dict; ``source`` names it in error messages."""
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{clip(source)}: {describe(e)}") from None


_BOUND_WORDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def describe(err: ValidationError) -> str:
    """``yaml.path: problem`` for each bad field, joined on one line."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field; check the spelling against the documented fields"
        elif e["type"] in _BOUND_WORDS:
            (limit,) = e["ctx"].values()
            msg = f"must be {_BOUND_WORDS[e['type']]} {limit}, got {quote(e['input'])}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
