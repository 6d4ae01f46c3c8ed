"""Conversion of a quant- or snn-stage :class:`ConvertibleNet` into an integer :class:`Network`.

Every node becomes one IF population with the node's integer parameters
(:meth:`ConvertibleNet.integer_layers`, threshold balancing included): conv and dense synapses
become conv and dense projections, a pool synapse a sum-pool projection, and a residual
identity shortcut a 1x1 conv projection with a diagonal weight (its gain ``round(g / s)`` is
rarely 1, so the network model's weight-1 ``identity`` kind cannot carry it). The bias is
repeated over each channel's neurons; ``v0 = theta // 2``.

The membrane width is the smallest that holds every threshold, bias and the membrane range a
neuron reaches in ``T`` steps at its mean per-step current on calibration images (``theta +
T * max|I|``), at least :data:`MIN_MEMBRANE_BITS`; :func:`saturation_free` checks it on test
images.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from twinspike.ext.evaluate import evaluate
from twinspike.network import Network, Population, Projection
from twinspike.sw.if_pe_array import MAX_MEMBRANE_BITS

from .models import ConvertibleNet, Synapse

MIN_MEMBRANE_BITS = 16


def _projection(syn: Synapse, weight: torch.Tensor | None) -> Projection:
    if syn.kind == "pool":
        return Projection("pool", syn.source, kernel=syn.kernel, stride=syn.kernel)
    ints = weight.detach().round().to(torch.int64).numpy()
    if syn.kind == "dense":
        return Projection("dense", syn.source, ints)
    return Projection("conv", syn.source, ints, kernel=syn.kernel, stride=syn.stride,
                      padding=syn.padding)


@torch.no_grad()
def membrane_bits(net: ConvertibleNet, x_calib, timesteps: int, encoding: str = "direct") -> int:
    """Membrane width for running ``net`` up to ``timesteps`` steps (module docstring)."""
    currents: dict[str, torch.Tensor] = {}
    net.quant_levels(torch.as_tensor(x_calib), encoding, currents)
    layers = net.integer_layers(encoding)
    peak = 0
    for name, layer in layers.items():
        theta = int(layer.theta)
        reach = theta + timesteps * int(currents[name].abs().max().ceil())
        peak = max(peak, reach, int(layer.bias.abs().max()))
    return max(MIN_MEMBRANE_BITS, net.weight_bits + 1, peak.bit_length() + 1)


@torch.no_grad()
def to_network(net: ConvertibleNet, encoding: str = "direct", membrane_bits: int = 24,
               metadata: dict | None = None) -> Network:
    """The integer SNN of a quant- or snn-stage ``net`` for ``encoding`` (module docstring)."""
    if net.stage not in ("quant", "snn"):
        raise ValueError(f"to_network: {net.name} is in stage {net.stage!r}: expected 'quant' "
                         "or 'snn'")
    if membrane_bits > MAX_MEMBRANE_BITS:
        raise ValueError(f"to_network.membrane_bits={membrane_bits} is out of range: the "
                         f"network needs more than {MAX_MEMBRANE_BITS} bits")
    layers = net.integer_layers(encoding)
    populations, scales = [], {}
    for node in net.nodes:
        layer = layers[node.name]
        per_channel = int(np.prod(node.shape[1:], dtype=np.int64))
        bias = np.repeat(layer.bias.round().to(torch.int64).numpy(), per_channel)
        theta = int(layer.theta)
        populations.append(Population(
            node.name, node.shape,
            tuple(_projection(s, w) for s, w in zip(node.synapses, layer.weights)),
            bias, theta, v0=theta // 2))
        scales[node.name] = float(layer.scale)
    info = {"model": net.name, "levels": net.levels, "membrane_unit": scales}
    return Network(net.input_shape, tuple(populations), input_bits=8, encoding=encoding,
                   weight_bits=net.weight_bits, membrane_bits=membrane_bits,
                   metadata={**info, **(metadata or {})})


def saturation_free(net: Network, images, T: int) -> bool:
    """Whether ``net`` gives the same output spike counts on ``images`` over ``T`` steps as
    with the widest membranes (so its membrane saturation, if any, changes nothing)."""
    wide = dataclasses.replace(net, membrane_bits=MAX_MEMBRANE_BITS)
    return bool(np.array_equal(evaluate(net, images, T).counts, evaluate(wide, images, T).counts))
