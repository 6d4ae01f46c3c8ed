"""Peer evaluators of a twinspike integer SNN: plain numpy, snnTorch, SpikingJelly and Norse.

Each peer computes the output spike counts of a :class:`twinspike.network.Network` of IF
neurons (``leak_shift`` 0, ``direct`` encoding) exactly as ``docs/semantics.md`` defines them,
provided no membrane saturates -- :func:`check_no_saturation` proves that for a batch, and the
benchmark checks every peer's counts against twinspike's.

Shared structure, the fastest exact use of each library for a feed-forward network:

* Populations run in declared order. A population's synaptic current for all ``T`` timesteps is
  computed at once, time folded into the batch (as SpikingJelly's multi-step mode does), then
  its neurons step through ``T``. This equals the layer-by-layer-within-a-timestep order of the
  contract because a feed-forward population only sees its sources' spikes of the same step.
* The direct input is the same at every timestep, so a current from the input is computed once
  and broadcast over ``T``.
* current = sum of the projections + bias. Adding the bias together with the synaptic current
  (the contract adds it after accumulating) is exact because nothing saturates and there is no
  leak in between.
* Sum-pool is ``avg_pool2d(divisor_override=1)`` (an exact float sum); identity is a copy.

Neurons (all exact on integer-valued floats):

* numpy: ``v += I; s = v >= theta; v -= theta * s``, the contract verbatim, float64.
* SpikingJelly: ``neuron.IFNode(v_threshold=theta, v_reset=None)`` *is* the contract:
  ``H = V + X``, ``S = heaviside(H - theta)`` with ``heaviside(x) = x >= 0``, ``V = H - S*theta``
  (soft reset); the membrane starts at ``v0`` by assigning ``node.v``.
* snnTorch: ``snn.Leaky(beta=1, threshold=theta, reset_mechanism="subtract")`` with the default
  ``reset_delay=True`` stores the pre-reset membrane and subtracts ``theta`` at the next step,
  so its ``mem`` at step t is the pre-fire membrane ``v(t-1) + I(t)`` of the contract; it fires
  on ``mem > theta`` (strict). Its membrane is carried 0.5 above the integer one, which turns
  ``>`` into ``>=`` on integers: ``v + 0.5 > theta <=> v >= theta``. The initial ``mem`` is
  ``v0 + 0.5`` (plus ``theta`` when ``v0 >= theta``, so that the delayed reset at step 1
  leaves ``v0 + 0.5``).
* Norse has no IF neuron with reset by subtraction: ``IAFCell`` resets to ``v_reset`` and
  ``LIFBoxCell`` (which takes ``reset_subtract``) always leaks, ``v += dt*tau_mem_inv*(i +
  v_leak - v)``. So the Norse peer composes Norse's functional primitives: integrate ``v = v + i``
  (the integrate line of ``iaf_feed_forward_step``), ``z = threshold(v - theta, "heaviside")``
  (``heaviside(x) = x > 0``, strict) and ``v = reset_subtract(z, v, ., theta)``, with the same
  +0.5 offset as snnTorch.

float32 (the torch peers' type) is exact here: without saturation every membrane lies in the
``membrane_bits <= 24`` signed range, so it and its +0.5 offset have magnitude below ``2**23``
(exact to 0.5), and every current and partial sum is an integer below ``2**24`` in magnitude.
"""
from __future__ import annotations

import importlib.util

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from twinspike.network import INPUT, Network, Projection, as_chw
from twinspike.sw.common import signed_max, signed_min

PEERS = ("numpy", "snntorch", "spikingjelly", "norse")
#: The module each optional peer needs (the ``benchmark`` extra installs them).
PEER_MODULES = {"snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse"}


class Saturation(AssertionError):
    """A membrane would saturate: the float peers cannot reproduce the integer twin."""


def check_supported(net: Network) -> None:
    """The peers reproduce direct-encoded IF networks without leak; refuse anything else."""
    if net.encoding != "direct":
        raise ValueError(f"peers need encoding 'direct', got {net.encoding!r}")
    for pop in net.populations:
        if pop.leak_shift:
            raise ValueError(f"peers need leak_shift 0, population {pop.name!r} has "
                             f"{pop.leak_shift}")


def peer_missing(name: str) -> str | None:
    """Why peer ``name`` cannot run here (its package is not installed), or ``None``."""
    module = PEER_MODULES.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return f"{module} is not installed (optional peer: bash benchmarks/install_peers.sh)"


# ----------------------------------------------------------------------------- numpy

def numpy_conv(x: np.ndarray, weight: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``x[N, C_in, H, W]`` conv ``weight[C_out, C_in, k, k]`` (zero padding) as one matrix
    product over the im2col view; returns ``[N, C_out, H_out, W_out]``."""
    k = weight.shape[-1]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def numpy_pool(x: np.ndarray, k: int) -> np.ndarray:
    """Sum-pool ``x[N, C, H, W]`` with kernel = stride = ``k`` (rows/columns past the last full
    window are dropped)."""
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).sum(axis=(3, 5))


def numpy_projection(proj: Projection, weight, x: np.ndarray, src: tuple, dst: tuple):
    """Current into ``dst`` from source events ``x[N, n_src]`` through ``proj`` with
    ``weight`` (``proj.weight`` as float64, or its positive/negative part); ``[N, n_dst]``."""
    if proj.kind == "dense":
        return x @ weight.T
    if proj.kind == "identity":
        return x
    n = len(x)
    grid = x.reshape(n, *as_chw(src))
    if proj.kind == "pool":
        return numpy_pool(grid, proj.kernel).reshape(n, -1)
    return numpy_conv(grid, weight, proj.stride, proj.padding).reshape(n, -1)


def float_weights(net: Network) -> dict[int, np.ndarray]:
    """float64 copies of the dense/conv weights, keyed by ``id`` of their projection."""
    return {id(proj): proj.weight.astype(np.float64) for pop in net.populations
            for proj in pop.projections if proj.weight is not None}


def numpy_spikes(net: Network, images: np.ndarray, T: int, check_saturation: bool = False,
                 weights: dict[int, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Spikes ``[T, B, n]`` (float64 0/1) of every population by name, float64 numpy (the
    input's entry is its pixels ``[1, B, n_inputs]``); ``weights`` from
    :func:`float_weights` (made here if not given). With ``check_saturation``
    also raise :class:`Saturation` if any partial sum of the integer twin could leave the
    ``membrane_bits`` range: per step, ``v + sum(positive w*x)`` and ``v + sum(negative w*x)``
    bound every partial sum of the accumulate phase (sources are non-negative) and
    ``v + current`` is the value after the bias."""
    check_supported(net)
    weights = float_weights(net) if weights is None else weights
    lo, hi = signed_min(net.membrane_bits), signed_max(net.membrane_bits)
    batch = len(images)
    shapes = {INPUT: net.input_shape, **{p.name: p.shape for p in net.populations}}
    # events[name]: [S, B, n] with S = 1 for the constant direct input, T for populations
    events = {INPUT: images.reshape(1, batch, -1).astype(np.float64)}
    for pop in net.populations:
        current, rise, fall = pop.bias.astype(np.float64), 0.0, 0.0
        for proj in pop.projections:
            source = events[proj.source]
            folded = source.reshape(-1, source.shape[-1])
            src = shapes[proj.source]
            weight = weights.get(id(proj))
            part = numpy_projection(proj, weight, folded, src, pop.shape)
            current = current + part.reshape(len(source), batch, -1)
            if check_saturation:
                pos = part if weight is None else numpy_projection(
                    proj, np.maximum(weight, 0), folded, src, pop.shape)
                rise = rise + pos.reshape(len(source), batch, -1)
                fall = fall + (part - pos).reshape(len(source), batch, -1)
        v = np.full((batch, pop.size), float(pop.v0))
        spikes = np.empty((T, batch, pop.size))
        for t in range(T):
            step = min(t, len(current) - 1)
            if check_saturation:
                _check_step(pop.name, t, v, current[step], rise[min(t, len(rise) - 1)],
                            fall[min(t, len(fall) - 1)], lo, hi)
            v += current[step]
            fired = v >= pop.theta
            v -= pop.theta * fired
            spikes[t] = fired
        events[pop.name] = spikes
    return events


def numpy_counts(net: Network, images: np.ndarray, T: int,
                 weights: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Output spike counts ``[B, n_out]`` (int64), float64 numpy."""
    spikes = numpy_spikes(net, images, T, weights=weights)
    return spikes[net.output.name].sum(axis=0).astype(np.int64)


def _check_step(name: str, t: int, v, current, rise, fall, lo: int, hi: int) -> None:
    top = max((v + rise).max(), (v + current).max())
    bottom = min((v + fall).min(), (v + current).min())
    if top > hi or bottom < lo:
        raise Saturation(f"population {name!r} would saturate at timestep {t}: membrane range "
                         f"{lo}..{hi}, partial sums reach {bottom:.0f}..{top:.0f}")


def check_no_saturation(net: Network, images: np.ndarray, T: int) -> None:
    """Raise :class:`Saturation` unless the integer twin never saturates on ``images``."""
    numpy_spikes(net, images, T, check_saturation=True)


class NumpyPeer:
    name = "numpy"

    def __init__(self, net: Network, T: int):
        check_supported(net)
        self.net, self.T, self.weights = net, T, float_weights(net)

    def counts(self, images: np.ndarray) -> np.ndarray:
        return numpy_counts(self.net, images, self.T, self.weights)


# ----------------------------------------------------------------------------- torch peers

class TorchPeer:
    """Synaptic currents with torch modules on time-folded batches; subclasses step neurons.

    ``self.layers`` holds per population ``(population, [(projection, synapse)], neurons)``: a
    synapse maps source events ``[N, n_src]`` to a current ``[N, n_dst]``; ``neurons`` is the
    library's neuron object for the population (:meth:`neurons`).
    """

    name = "torch"

    def __init__(self, net: Network, T: int):
        import torch
        check_supported(net)
        self.torch, self.net, self.T = torch, net, T
        shapes = {INPUT: net.input_shape, **{p.name: p.shape for p in net.populations}}
        self.layers = [(pop, [(proj, self.synapse(proj, shapes[proj.source]))
                              for proj in pop.projections], self.neurons(pop))
                       for pop in net.populations]
        self.bias = {pop.name: torch.tensor(pop.bias, dtype=torch.float32)
                     for pop in net.populations}

    def synapse_classes(self):
        """``(Linear, Conv2d, AvgPool2d)`` used for the projections."""
        nn = self.torch.nn
        return nn.Linear, nn.Conv2d, nn.AvgPool2d

    def synapse(self, proj: Projection, src: tuple):
        torch = self.torch
        linear, conv2d, avg_pool = self.synapse_classes()
        if proj.kind == "identity":
            return lambda x: x
        if proj.kind == "dense":
            layer = linear(proj.weight.shape[1], proj.weight.shape[0], bias=False)
        elif proj.kind == "conv":
            c_out, c_in, k, _ = proj.weight.shape
            layer = conv2d(c_in, c_out, k, stride=proj.stride, padding=proj.padding, bias=False)
        else:
            layer = avg_pool(proj.kernel, stride=proj.kernel, divisor_override=1)
        if proj.weight is not None:
            layer.weight.data = torch.tensor(proj.weight, dtype=torch.float32)
        if proj.kind == "dense":
            return layer
        grid = as_chw(src)
        return lambda x: layer(x.reshape(len(x), *grid)).reshape(len(x), -1)

    def counts(self, images: np.ndarray) -> np.ndarray:
        torch = self.torch
        batch = len(images)
        with torch.inference_mode():
            # events[name]: [S, B, n], S = 1 for the constant direct input, T for populations
            events = {INPUT: torch.from_numpy(images.reshape(1, batch, -1)).to(torch.float32)}
            for pop, synapses, neurons in self.layers:
                current = self.bias[pop.name]
                for proj, synapse in synapses:
                    source = events[proj.source]
                    folded = synapse(source.reshape(-1, source.shape[-1]))
                    current = current + folded.reshape(len(source), batch, -1)
                events[pop.name] = self.step(pop, neurons, current.expand(self.T, -1, -1))
            return events[self.net.output.name].sum(dim=0).to(torch.int64).numpy()

    def neurons(self, pop):
        """The library's neuron object for ``pop`` (``None`` for a functional API)."""
        return None

    def step(self, pop, neurons, current):
        """Spikes ``[T, B, n]`` of ``pop`` driven by ``current[T, B, n]``, from ``v0``."""
        raise NotImplementedError


class SnnTorchPeer(TorchPeer):
    name = "snntorch"

    def neurons(self, pop):
        import snntorch
        return snntorch.Leaky(beta=1.0, threshold=float(pop.theta), reset_mechanism="subtract")

    def step(self, pop, neurons, current):
        start = pop.v0 + 0.5 + (pop.theta if pop.v0 >= pop.theta else 0)
        mem = self.torch.full(current.shape[1:], start)
        spikes = self.torch.empty_like(current)
        for t in range(len(current)):
            spikes[t], mem = neurons(current[t], mem)
        return spikes


class SpikingJellyPeer(TorchPeer):
    """SpikingJelly's layer wrappers in single-step mode on the time-folded batch (what its
    multi-step mode does inside) and its multi-step ``IFNode``."""

    name = "spikingjelly"

    def synapse_classes(self):
        from spikingjelly.activation_based import layer

        def single_step(cls):
            return lambda *args, **kwargs: cls(*args, step_mode="s", **kwargs)
        return single_step(layer.Linear), single_step(layer.Conv2d), single_step(layer.AvgPool2d)

    def neurons(self, pop):
        from spikingjelly.activation_based import neuron
        return neuron.IFNode(v_threshold=float(pop.theta), v_reset=None, step_mode="m")

    def step(self, pop, neurons, current):
        neurons.reset()
        neurons.v = self.torch.full(current.shape[1:], float(pop.v0))
        return neurons(current)


class NorsePeer(TorchPeer):
    name = "norse"

    def step(self, pop, neurons, current):
        from norse.torch.functional.reset import reset_subtract
        from norse.torch.functional.threshold import threshold
        theta = self.torch.as_tensor(float(pop.theta))
        v = self.torch.full(current.shape[1:], pop.v0 + 0.5)
        spikes = self.torch.empty_like(current)
        for t in range(len(current)):
            v = v + current[t]
            z = threshold(v - theta, "heaviside", 0.0)
            v = reset_subtract(z, v, theta, theta)
            spikes[t] = z
        return spikes


PEER_CLASSES = {cls.name: cls for cls in (NumpyPeer, SnnTorchPeer, SpikingJellyPeer, NorsePeer)}


def make_peer(name: str, net: Network, T: int):
    """Peer ``name`` (one of :data:`PEERS`) set up for ``net`` and ``T`` timesteps."""
    if name not in PEER_CLASSES:
        raise ValueError(f"peer={name!r}: expected one of {', '.join(PEERS)}")
    missing = peer_missing(name)
    if missing:
        raise ValueError(f"peer {name!r} cannot run: {missing}")
    return PEER_CLASSES[name](net, T)
