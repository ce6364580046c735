"""Whole-step capture: the network's forward and backward compiled as one graph.

A spiking step is many small kernels: every IF layer scans ``T`` steps element-wise, and
BN, the residual adds and the surrogate gradient each pass over the activations again.
``torch.compile`` traces the whole forward (the ``T``-loops included) and, through
AOTAutograd, its backward, so Inductor fuses those passes; on CUDA ``reduce-overhead``
also replays the step as a CUDA graph, so the launches of the small kernels cost nothing.
The STDP update and the optimizer stay eager.

``capture: compile`` compiles in place (``nn.Module.compile``): parameter names, state
dicts and checkpoints are those of the eager model. A step recompiles once per kind of
call (STBP, STDP and STDP-STBP differ in what is recorded and which weights want
gradients; evaluation runs without autograd), so the first steps of each kind are slow.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Capture = Literal["none", "compile"]


def capture(model: nn.Module, how: Capture, device: torch.device) -> nn.Module:
    """``model`` with its calls compiled (``how="compile"``), or as it is (``"none"``)."""
    if how == "none":
        return model
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    model.compile(mode=mode, dynamic=False)
    return model
