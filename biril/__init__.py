"""BIRIL: spiking ResNets trained by a ratio of STDP, STBP and cyclic STDP-STBP updates.

>>> from biril import TrainConfig, train
>>> result = train(TrainConfig(dataset="digits", ratio="1:8:3", epochs=2))  # doctest: +SKIP
>>> result.test_acc  # doctest: +SKIP
"""

from .config import ConfigError, TrainConfig, build_config
from .schedule import Mode, Ratio, RatioError, modes
from .trainer import DivergenceError, EpochMetrics, TrainResult, train

__all__ = [
    "ConfigError",
    "DivergenceError",
    "EpochMetrics",
    "Mode",
    "Ratio",
    "RatioError",
    "TrainConfig",
    "TrainResult",
    "build_config",
    "modes",
    "train",
]
