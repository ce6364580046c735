"""BIRIL: spiking ResNets trained by a ratio of STDP, STBP and cyclic STDP-STBP updates.

>>> from biril import TrainConfig, train
>>> result = train(TrainConfig(dataset="digits", ratio="1:8:3", epochs=2))  # doctest: +SKIP
>>> result.test_acc  # doctest: +SKIP

Names load on first use (``lazy_loader``, as in every package of the project), so
``biril --help`` and the Ray-side commands don't pay for torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "checkpoint": ["CheckpointError"],
        "config": ["ConfigError", "TrainConfig", "build_config"],
        "schedule": ["Mode", "Ratio", "RatioError", "modes"],
        "trainer": ["DivergenceError", "EpochMetrics", "TrainResult", "train"],
    },
)
