"""The numerics of hardware co-optimisation: QCFS activation, BN folding, weight quantisation.

* Straight-through estimators: :func:`floor_ste` and :func:`round_ste` round in the forward
  pass and pass the gradient through unchanged.
* **QCFS** (quantisation-clip-floor-shift, Bu et al. 2022): with ``L`` levels and threshold
  ``lam``, ``h(z) = lam / L * clip(floor(z * L / lam + shift), 0, L)`` (``shift = 1/2`` in the
  float model). An IF neuron with threshold ``lam``, initial membrane ``lam / 2`` and the
  constant input ``z`` per step emits exactly ``L * h(z) / lam`` spikes in ``T = L`` steps.
* **BN folding**: ``w' = w * gamma / sqrt(var + eps)`` per output channel and the bias
  ``b' = (b - mean) * gamma / sqrt(var + eps) + beta`` (running statistics, eval mode).
* **Spike with a surrogate gradient**: :func:`spike` is the IF fire test ``v >= theta``
  forward, with the triangle ``max(0, 1 - |v - theta| / theta) / theta`` as its derivative.
* **Weight quantisation**: symmetric, per layer, ``bits`` signed: ``q = clip(round(w / s),
  -qmax, qmax)`` with ``qmax = 2**(bits-1) - 1`` and ``s = max|w| / qmax``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from twinspike.sw.common import signed_max


def floor_ste(x: Tensor) -> Tensor:
    """``floor(x)`` forward, identity gradient."""
    return x + (torch.floor(x) - x).detach()


def round_ste(x: Tensor) -> Tensor:
    """``round(x)`` (half to even, as torch rounds) forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


def clamp_ste(x: Tensor, lo: float, hi: float) -> Tensor:
    """``clamp(x, lo, hi)`` forward, identity gradient (used on the output layer so that a
    wrong class stuck above the threshold is still pushed down)."""
    return x + (x.clamp(lo, hi) - x).detach()


def qcfs(z: Tensor, lam: Tensor, levels: int) -> Tensor:
    """QCFS activation ``lam / L * clip(floor(z * L / lam + 1/2), 0, L)`` (module docstring);
    gradients reach ``z`` inside ``[0, lam]`` and ``lam`` through the quantisation error."""
    return lam / levels * clip_floor(z * levels / lam + 0.5, levels)


def clip_floor(x: Tensor, levels: int, straight_clip: bool = False) -> Tensor:
    """The QCFS level ``clip(floor(x), 0, L)``, straight-through for the floor;
    ``straight_clip`` lets the gradient through the clip too."""
    level = floor_ste(x)
    return clamp_ste(level, 0, levels) if straight_clip else level.clamp(0, levels)


def fold_batchnorm(weight: Tensor, bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """Fold ``bn`` (eval-mode statistics) into a bias-free linear map with ``weight`` (first
    axis = output channels); returns ``(w', b')`` with ``bn(op(x, w)) == op(x, w') + b'``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    return folded, bn.bias - bn.running_mean * scale


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric ``bits``-wide signed weight."""
    return signed_max(bits)


def weight_scale(weights: list[Tensor], bits: int) -> Tensor:
    """Per-layer scale ``s = max|w| / qmax`` over all ``weights`` feeding one population
    (they share its membrane, so they share its integer unit); no gradient."""
    peak = torch.stack([w.detach().abs().max() for w in weights]).max()
    return peak.clamp_min(torch.finfo(peak.dtype).tiny) / qmax(bits)


def quantise_weight(weight: Tensor, scale: Tensor, bits: int) -> Tensor:
    """Integer-valued ``clip(round(w / s), -qmax, qmax)`` (straight-through gradient)."""
    limit = qmax(bits)
    return round_ste(weight / scale).clamp(-limit, limit)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, over: Tensor, width: Tensor) -> Tensor:
        ctx.save_for_backward(over, width)
        return (over >= 0).to(over.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        over, width = ctx.saved_tensors
        return grad * (1 - over.abs() / width).clamp_min(0) / width, None


def spike(over: Tensor, width: Tensor) -> Tensor:
    """``1.0`` where ``over = v - theta >= 0`` else ``0.0``; surrogate derivative the triangle
    of half-width ``width`` (= theta) and area 1."""
    return _Spike.apply(over, width)
