"""BIRIL: spiking ResNets trained by a ratio of STDP, STBP and cyclic STDP-STBP updates.

>>> from biril import TrainConfig, train
>>> result = train(TrainConfig(dataset="digits", ratio="1:8:3", epochs=2))  # doctest: +SKIP
>>> result.test_acc  # doctest: +SKIP

Names load on first use, so ``biril --help`` and the Ray-side commands don't pay for torch.
"""

from importlib import import_module

_EXPORTS = {
    "CheckpointError": "checkpoint",
    "ConfigError": "config",
    "TrainConfig": "config",
    "build_config": "config",
    "Mode": "schedule",
    "Ratio": "schedule",
    "RatioError": "schedule",
    "modes": "schedule",
    "DivergenceError": "trainer",
    "EpochMetrics": "trainer",
    "TrainResult": "trainer",
    "train": "trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'biril' has no attribute {name!r}")
