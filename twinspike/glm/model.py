"""The two-layer probabilistic GLM SNN in torch, trained by first-to-spike likelihood.

Model (SpinAPS; Bagheri, Simeone, Rajendran): input spike trains ``s_j(t)`` (the rate
encoder's, exactly as the hardware sees them), traces ``x[t, j, k] = sum_{d=1..tau}
a_k(d) s_j(t-d)`` (output step ``t = 1..T``) from the unit's fixed-point raised-cosine table (``a_k = kernel_table /
2**F``, so the float model already uses the quantised kernels), and output membranes

    u_i(t) = alpha * sum_{j,k} w_ijk * x[t, j, k] + gamma_i,    w_ijk in {-1, +1},

with one learned scale ``alpha > 0`` per layer and a real bias ``gamma_i``. The binary weights
are the sign of real latent weights (``sign(0) = +1``); the gradient passes straight through the
sign where the latent weight lies in ``[-1, 1]`` (the clipped straight-through estimator,
Courbariaux et al. 2015), and the latent weights are clamped to ``[-1, 1]`` after each step.

Objective (exact, no sampling: before the first output spike the outputs have no history):
with ``p_i(t) = sigmoid(u_i(t))`` and ``S(t) = sum_{t'<=t} sum_i log(1 - p_i(t'))``,

    log P(c spikes first, alone, at t) = log p_c(t) - log(1 - p_c(t)) + S(t) = u_c(t) + S(t),
    P(nothing spikes by T) = exp(S(T)),

and training maximises, with Adam, the mean over the training set of
``log(sum_{t=1..T} exp(u_c(t) + S(t)) + exp(S(T)) / n_out)``: the first-to-spike likelihood
plus a "no spike by T" term that scores silence as a guess. (Scoring it with the decoder's
fallback instead, a softmax of ``u(T)``, teaches the network to stay silent and let the
fallback decide: fewer decisions by spike and lower accuracy at small ``T``.)

Quantisation for the ``glm_neuron`` unit (:func:`export`): the integer membrane is
``u_int = round(gamma / alpha * 2**F) + sum w * kernel_table-traces`` so that ``u = alpha *
u_int / 2**F``; the sigmoid LUT is built for that gain. The membrane width is chosen so that no
partial sum can saturate (the integer sums are then exact).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from twinspike.sw.glm_neuron import MAX_MEMBRANE_BITS, GlmNeuronParams, sigmoid_table


def trace_sum_bound(p: GlmNeuronParams, spikes: np.ndarray) -> int:
    """The largest ``sum_{j,k} trace[j, k]`` (integer kernel table) of spike trains
    ``(B, T, n_in)`` at any output step: a bound on every partial membrane sum."""
    counts = spikes.sum(axis=2, dtype=np.int64)                             # (B, T)
    per_delay = p.kernels.sum(axis=0)                                       # (tau,)
    total = np.zeros_like(counts)
    for d in range(1, min(p.tau, counts.shape[1]) + 1):
        total[:, d - 1:] += per_delay[d - 1] * counts[:, :counts.shape[1] - d + 1]
    return int(total.max(initial=0))


class BinarySign(torch.autograd.Function):
    """``sign`` forward (``+1`` at 0); clipped straight-through gradient backward."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


class GlmSnn(torch.nn.Module):
    """Output layer of ``p.n_out`` GLM neurons with binary weights ``(n_out, n_in, K)`` over the
    unit's kernels ``p.kernels / 2**F``."""

    def __init__(self, p: GlmNeuronParams, generator: torch.Generator):
        super().__init__()
        self.register_buffer("kernels", torch.tensor(p.kernels / 2.0 ** p.kernel_frac_bits,
                                                     dtype=torch.float32))      # (K, tau)
        self.latent = torch.nn.Parameter(
            (torch.rand(p.n_out, p.n_in, p.n_kernels, generator=generator) - 0.5) * 0.2)
        self.log_alpha = torch.nn.Parameter(torch.tensor(0.0))
        self.bias = torch.nn.Parameter(torch.zeros(p.n_out))

    def binary_weights(self) -> torch.Tensor:
        return BinarySign.apply(self.latent)

    def drive(self, spikes: torch.Tensor) -> torch.Tensor:
        """``sum_{j,k} w_ijk x[t, j, k]`` ``(B, T, n_out)`` of spike trains ``(B, T, n_in)``,
        without building the traces: one product with the per-delay weights ``W_d[j, i] =
        sum_k a_k(d) w_ijk`` for all ``d`` at once, then output step ``t`` (index ``t - 1``)
        adds the delay-``d`` block of input step ``t - d``."""
        n_batch, n_steps, n_in = spikes.shape
        tau, n_out = self.kernels.shape[1], self.latent.shape[0]
        per_delay = torch.einsum("ijk,kd->jdi", self.binary_weights(), self.kernels)
        y = (spikes.to(self.kernels.dtype) @ per_delay.reshape(n_in, tau * n_out)).view(
            n_batch, n_steps, tau, n_out)
        total = 0
        for d in range(1, min(tau, n_steps) + 1):
            total = total + torch.nn.functional.pad(y[:, :n_steps - d + 1, d - 1], (0, 0, d - 1, 0))
        return total

    def membranes(self, spikes: torch.Tensor) -> torch.Tensor:
        """``u`` ``(B, T, n_out)`` of spike trains ``(B, T, n_in)``."""
        return self.log_alpha.exp() * self.drive(spikes) + self.bias

    def calibrate_(self, spikes: torch.Tensor, start_logit: float = -3.0) -> None:
        """Data-dependent start: ``alpha = 1 / std(drive)`` and every bias such that the mean
        membrane is ``start_logit`` (each output fires with p ~ 5 % per step). Without it, wide
        inputs (561 HAR features) start with saturated membranes; if every output is then
        silent for sure, the likelihood is flat and training never moves."""
        with torch.no_grad():
            z = self.drive(spikes).reshape(-1, self.latent.shape[0])
            alpha = 1.0 / float(z.std().clamp_min(1e-6))
            self.log_alpha.fill_(math.log(alpha))
            self.bias.copy_(start_logit - alpha * z.mean(0))

    def clamp_(self) -> None:
        with torch.no_grad():
            self.latent.clamp_(-1, 1)


def log_likelihood(u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The training objective per sample (module doc), from membranes ``(B, T, n_out)``."""
    silent = torch.nn.functional.logsigmoid(-u).sum(-1).cumsum(1)           # S(t)  (B, T)
    u_c = u.gather(2, labels[:, None, None].expand(-1, u.shape[1], 1))[..., 0]
    first = torch.logsumexp(u_c + silent, dim=1)
    return torch.logaddexp(first, silent[:, -1] - math.log(u.shape[-1]))


def p_correct_by_step(u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Exact P(correct decision) of the float model, averaged over the batch, for every
    ``T' = 1..T``: ``(T,)``. The decoder is the unit's: at the first step with any spike, the
    lowest spiking index (so ``c`` wins at ``t`` if no output spiked before ``t`` and no lower
    index spikes at ``t``); if nothing spiked by ``T'``, the argmax of ``u(T')``."""
    log_silent = torch.nn.functional.logsigmoid(-u)                          # log(1 - p_i(t))
    silent = log_silent.sum(-1).cumsum(1)
    before = torch.nn.functional.pad(silent[:, :-1], (1, 0))                # S(t - 1)
    lower = log_silent.cumsum(-1) - log_silent                              # sum_{i<c}
    idx = labels[:, None, None].expand(-1, u.shape[1], 1)
    wins = before + torch.nn.functional.logsigmoid(u).gather(2, idx)[..., 0] + \
        lower.gather(2, idx)[..., 0]
    fallback = torch.exp(silent) * (u.argmax(-1) == labels[:, None])
    return (torch.exp(wins).cumsum(1) + fallback).mean(0)


@contextlib.contextmanager
def one_thread():
    """The matrices are small (``B*T x n_in`` by ``n_in x n_out``): one torch thread beats a
    team that has to be woken and joined at every product (several times faster here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch: int = 256
    lr: float = 0.005
    seed: int = 0


def fit(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
        loss_fn, desc: str) -> list[float]:
    """Adam on ``loss_fn(model, x_batch, labels_batch)`` over shuffled mini-batches, latent
    weights clamped after every step; returns the mean loss of every epoch."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=cfg.lr)
    losses = []
    with one_thread():
        for _ in tqdm(range(cfg.epochs), desc=desc, unit="epoch", leave=False):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), cfg.batch):
                idx = order[start:start + cfg.batch]
                loss = loss_fn(model, x[idx], labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                model.clamp_()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(x))
    return losses


def train(model: GlmSnn, spikes: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
          desc: str = "GLM SNN") -> list[float]:
    """Maximise the first-to-spike log-likelihood (module doc) of spike trains ``(B, T, n_in)``,
    from the calibrated start (:meth:`GlmSnn.calibrate_` on up to 1024 training samples)."""
    model.calibrate_(spikes[:1024])
    return fit(model, spikes, labels, cfg,
               lambda m, x, y: -log_likelihood(m.membranes(x), y).mean(), desc)


@dataclass(frozen=True)
class Exported:
    """A trained network as the ``glm_neuron`` unit runs it."""

    params: GlmNeuronParams
    weights: np.ndarray      # (n_out, n_in, K) in {-1, +1}
    biases: np.ndarray       # (n_out,) int


def export(model: GlmSnn, base: GlmNeuronParams, max_trace_sum: int) -> Exported:
    """Integer weights, biases, membrane width and sigmoid LUT for the unit (module doc).
    ``max_trace_sum`` (:func:`trace_sum_bound`) sizes the membrane so no partial sum saturates."""
    with torch.no_grad():
        alpha = float(model.log_alpha.exp())
        w = model.binary_weights().numpy().astype(np.int64)
        gamma = model.bias.numpy().astype(np.float64)
    frac = base.kernel_frac_bits
    lsb = alpha / (1 << frac)                          # real value of one membrane LSB
    biases = np.floor(gamma / lsb + 0.5).astype(np.int64)
    bound = int(max_trace_sum + np.abs(biases).max())
    membrane_bits = min(MAX_MEMBRANE_BITS, max(bound.bit_length() + 1, base.membrane_bits))
    half = 1 << (base.lut_in_bits - 1)
    # The LUT covers sigmoid arguments of at least +-8 (beyond: within 2**-11 of 0 or 1).
    lut_shift = min(membrane_bits - 1, max(0, math.ceil(math.log2(8 / (lsb * half)))))
    lo, hi = -(1 << (membrane_bits - 1)), (1 << (membrane_bits - 1)) - 1
    biases = np.clip(biases, lo, hi)
    params = GlmNeuronParams(
        n_in=base.n_in, n_out=base.n_out, n_kernels=base.n_kernels, tau=base.tau,
        kernel_bits=base.kernel_bits, kernel_frac_bits=frac, membrane_bits=membrane_bits,
        bias_bits=membrane_bits, lut_in_bits=base.lut_in_bits, lut_shift=lut_shift,
        lut_out_bits=base.lut_out_bits, lfsr_width=base.lfsr_width, seed=base.seed,
        max_steps=base.max_steps, kernel_table=base.kernel_table,
        sigmoid_lut=sigmoid_table(base.lut_in_bits, lut_shift, base.lut_out_bits, lsb))
    return Exported(params, w, biases)


class LinearAnn(torch.nn.Module):
    """The ANN of the same size: one dense layer ``n_in -> n_out`` on intensities in [0, 1],
    softmax output. ``binaries = 0``: float weights; ``binaries = n``: each weight is
    ``alpha * (sum of n binary weights)`` (``n = K`` gives the SNN's count of binary synapses)."""

    def __init__(self, n_in: int, n_out: int, binaries: int, generator: torch.Generator):
        super().__init__()
        self.binaries = binaries
        shape = (n_out, n_in, binaries) if binaries else (n_out, n_in)
        self.latent = torch.nn.Parameter(
            (torch.rand(shape, generator=generator) - 0.5) * (0.2 if binaries else 0.02))
        self.log_alpha = torch.nn.Parameter(torch.tensor(math.log(0.1)),
                                            requires_grad=bool(binaries))
        self.bias = torch.nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.binaries:
            w = self.log_alpha.exp() * BinarySign.apply(self.latent).sum(-1)
        else:
            w = self.latent
        return x @ w.T + self.bias

    def clamp_(self) -> None:
        if self.binaries:
            with torch.no_grad():
                self.latent.clamp_(-1, 1)


def train_ann(model: LinearAnn, x: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
              desc: str) -> list[float]:
    """Cross-entropy on intensities ``(B, n_in)`` in [0, 1]."""
    return fit(model, x, labels, cfg,
               lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb), yb), desc)
