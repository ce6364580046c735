"""SpikingJelly 2.0 counterparts of BIRIL's neuron, network and conv STDP — benchmark only.

SpikingJelly is the optional ``bench`` extra (``pip install 'biril-sweeps[bench]'``): only
``biril.bench`` imports this module, inside its functions, so neither the trainer nor the
CLI's start-up ever loads it. Everything here is written the way SpikingJelly's own
examples write it (multi-step ``layer.*`` modules, ``neuron.IFNode``, ``reset_net`` before
every batch, a static image expanded over ``T``), and named like ``biril.models`` so one
state dict loads into both networks.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from .models import Architecture

INSTALL_HINT = "SpikingJelly is not installed: pip install 'biril-sweeps[bench]'"


def spikingjelly() -> SimpleNamespace:
    """SpikingJelly's ``activation_based`` sub-modules, or an ImportError saying how to get them."""
    try:
        from spikingjelly.activation_based import functional, layer, learning, neuron, surrogate
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return SimpleNamespace(
        functional=functional, layer=layer, learning=learning, neuron=neuron, surrogate=surrogate
    )


def if_node(v_threshold: float = 1.0, alpha: float = 4.0, hard: bool = True) -> nn.Module:
    """Multi-step ``IFNode``: sigmoid surrogate, reset to 0 (or subtract), reset not detached."""
    sj = spikingjelly()
    return sj.neuron.IFNode(
        v_threshold=v_threshold,
        v_reset=0.0 if hard else None,
        surrogate_function=sj.surrogate.Sigmoid(alpha=alpha),
        detach_reset=False,
        step_mode="m",
    )


def run_if_node(node: nn.Module, current: torch.Tensor) -> torch.Tensor:
    """One multi-step call from a fresh membrane, as ``IFNeuron`` does."""
    spikingjelly().functional.reset_net(node)
    return node(current)


class SJBasicBlock(nn.Module):
    """``biril.models.SpikingBasicBlock`` in SpikingJelly layers."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        layer = spikingjelly().layer
        self.conv1 = layer.Conv2d(c_in, c_out, 3, stride, 1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(c_out, step_mode="m")
        self.sn1 = if_node()
        self.conv2 = layer.Conv2d(c_out, c_out, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(c_out, step_mode="m")
        self.sn2 = if_node()
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                layer.Conv2d(c_in, c_out, 1, stride, 0, bias=False, step_mode="m"),
                layer.BatchNorm2d(c_out, step_mode="m"),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.sn2(current + skip)


class SJSpikingResNet(nn.Module):
    """``biril.models.SpikingResNet`` (same preset, same parameter names) in SpikingJelly.

    A static image is expanded over ``T`` and the stem runs on all ``T·B`` copies, as in
    SpikingJelly's ``conv_fashion_mnist`` example.
    """

    def __init__(
        self, arch: Architecture, in_channels: int, num_classes: int, time_steps: int
    ) -> None:
        super().__init__()
        layer = spikingjelly().layer
        self.time_steps = time_steps
        self.stem_conv = layer.Conv2d(
            in_channels, arch.stem_channels, 3, arch.stem_stride, 1, bias=False, step_mode="m"
        )
        self.stem_bn = layer.BatchNorm2d(arch.stem_channels, step_mode="m")
        self.stem_sn = if_node()
        blocks = []
        c = arch.stem_channels
        for channels, n_blocks, stride in arch.stages:
            for i in range(n_blocks):
                blocks.append(SJBasicBlock(c, channels, stride if i == 0 else 1))
                c = channels
        self.blocks = nn.ModuleList(blocks)
        self.pool = layer.AdaptiveAvgPool2d(1, step_mode="m")
        self.flatten = layer.Flatten(step_mode="m")
        self.fc1 = layer.Linear(c, arch.fc_hidden, step_mode="m")
        self.fc_sn = if_node()
        self.fc2 = layer.Linear(arch.fc_hidden, num_classes, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        h = self.stem_sn(self.stem_bn(self.stem_conv(x)))
        for block in self.blocks:
            h = block(h)
        return self.fc2(self.fc_sn(self.fc1(self.flatten(self.pool(h)))))


class SJSTBPStep:
    """One plain-STBP update of an ``SJSpikingResNet``: Adam + cosine schedule, Eq. 4 loss.

    The same work as ``biril.trainer.BIRILStep`` in STBP mode, the SpikingJelly way.
    """

    def __init__(self, model: SJSpikingResNet, lr: float = 1e-3, total_steps: int = 10_000):
        self.model = model
        self.num_classes = model.fc2.out_features
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, total_steps)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        from .trainer import bir_loss

        spikingjelly().functional.reset_net(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        mean_out = self.model(x).mean(0)
        loss = bir_loss(mean_out, y, "mse", self.num_classes)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss.item(), int((mean_out.argmax(1) == y).sum())


def spikingjelly_tau(tau: float) -> float:
    """SpikingJelly's trace time constant that decays like ours: ``1 − 1/τ' = exp(−1/τ)``."""
    return 1.0 / (1.0 - math.exp(-1.0 / tau))


class SJConvSTDP:
    """SpikingJelly's ``STDPLearner`` on one conv layer, fed spikes recorded elsewhere.

    Conventions, against ``biril.plasticity``: SpikingJelly sums over batch, positions and
    steps (no normalizer); its LTD trace already holds the same step's post spike, so a
    same-step pair counts ``A+ − A−`` there and ``A+`` here. Hence
    ``ΔW_biril·B·H'·W'·T = ΔW_sj + A−·Σ_t corr(post_t, pre_t)`` (see ``same_step_corr``).
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        *,
        tau_plus: float = 2.0,
        tau_minus: float = 2.0,
        a_plus: float = 1.0,
        a_minus: float = 1.0,
    ) -> None:
        sj = spikingjelly()
        self.synapse = sj.layer.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            bias=False,
            step_mode="m",
        ).to(conv.weight.device, conv.weight.dtype)
        self.post_source = nn.Identity()
        self.learner = sj.learning.STDPLearner(
            "m",
            self.synapse,
            self.post_source,
            tau_pre=spikingjelly_tau(tau_plus),
            tau_post=spikingjelly_tau(tau_minus),
            f_pre=lambda w: a_minus,
            f_post=lambda w: a_plus,
        )

    @torch.no_grad()
    def record(self, pre: torch.Tensor, post: torch.Tensor) -> None:
        """Let the learner's monitors see one batch: ``pre`` into the conv, ``post`` out."""
        self.synapse(pre)
        self.post_source(post)

    def delta(self) -> torch.Tensor:
        """ΔW of the recorded batch; traces are cleared so the next batch starts at zero."""
        dw = self.learner.step(on_grad=False)
        self.learner.reset()
        return dw


def same_step_corr(pre: torch.Tensor, post: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``Σ_t corr(post_t, pre_t)``: the same-step pairs the two conventions weigh differently."""
    return torch.nn.grad.conv2d_weight(
        pre.flatten(0, 1).float(),
        conv.weight.shape,
        post.flatten(0, 1).float(),
        stride=conv.stride,
        padding=conv.padding,
    )
