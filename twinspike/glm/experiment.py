"""``twinspike glm``: train the binary GLM SNN, run it quantised on the ``glm_neuron`` unit's
Cython twin, compare with ANNs of the same size, check a sample against the MyHDL twin, and
write the results (markdown table + PNG plot).

Pipeline (every random choice is seeded):

1. Data: ``load_dataset(spec)``; inputs flattened to ``n_in`` unsigned bytes (digits: its
   0..255 pixels; float features such as UCI HAR's, normalised to [-1, 1]:
   ``round((clip(x, -1, 1) + 1) * 255 / 2)``).
2. Input spikes: the rate encoder (``sw/rate_encoder.py``; 8-bit levels, 16-bit LFSR lanes,
   one per input, reseeded per image) for ``T`` steps: the very trains the hardware sees.
3. Training (``twinspike.glm.model``) on the exact first-to-spike likelihood.
4. Export to ``GlmNeuronParams`` + binary weights + integer biases; accuracy at every
   ``T = 1..T_max`` with ``ext/glm_neuron.evaluate`` (early exit, first-to-spike decoder,
   membrane-argmax fallback), with the unit's sampler seed and over further sampler seeds.
5. The MyHDL unit on a few test images: same decisions and decision steps as Cython.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twinspike.atomic import save_figure, write_text
from twinspike.sw.glm_neuron import GlmNeuronParams
from twinspike.sw.rate_encoder import RateEncoderParams

#: Clock assumed for the time per inference (an assumption, not timing closure).
CLOCK_HZ = 100e6


@dataclass(frozen=True)
class GlmConfig:
    data: str = "digits"
    n_kernels: int = 4
    tau: int = 8
    max_steps: int = 16
    epochs: int = 200
    seed: int = 0
    encoder_seed: int = 1
    sampler_seed: int = 7
    extra_sampler_seeds: int = 10
    myhdl_images: int = 4


@dataclass
class GlmResults:
    config: GlmConfig
    data_name: str
    n_in: int
    n_out: int
    n_train: int
    n_test: int
    params: GlmNeuronParams
    train_seconds: float
    float_expected: np.ndarray          # (T,) exact P(correct) of the float model
    accuracy: np.ndarray                # (T,) quantised, unit's sampler seed
    accuracy_seeds: np.ndarray          # (S, T) quantised, other sampler seeds
    mean_step: np.ndarray               # (T,) mean decision timestep (early exit)
    fallback: np.ndarray                # (T,) fraction decided by the membrane fallback
    ann_float: float
    ann_binary: float                   # one binary weight per connection
    ann_binary_k: float                 # K binary weights per connection (the SNN's count)
    eval_seconds: float
    myhdl_checked: int = 0
    myhdl_agrees: bool | None = None
    network: object = None              # twinspike.glm.export.GlmNetwork (what `write` saves)

    @property
    def final(self) -> float:
        return float(self.accuracy[-1])

    def fraction_at(self, t: int) -> float:
        return float(self.accuracy[t - 1] / self.accuracy[-1]) if self.accuracy[-1] else 0.0


def to_bytes(x: np.ndarray) -> np.ndarray:
    """Inputs as ``(N, n_in)`` uint8: bytes stay, floats in [-1, 1] are mapped (module doc)."""
    x = np.asarray(x).reshape(len(x), -1)
    if x.dtype == np.uint8:
        return x
    return np.floor((np.clip(x, -1.0, 1.0) + 1.0) * 127.5 + 0.5).astype(np.uint8)


def encoder_params(n_in: int, cfg: GlmConfig) -> RateEncoderParams:
    return RateEncoderParams(n_inputs=n_in, in_bits=8, lfsr_width=16, seed=cfg.encoder_seed)


def encode(n_in: int, cfg: GlmConfig, images: np.ndarray) -> np.ndarray:
    from twinspike.ext import rate_encoder

    return rate_encoder.encode(encoder_params(n_in, cfg), images, cfg.max_steps)


def myhdl_check(exported, spikes: np.ndarray) -> tuple[bool, list[dict], tuple]:
    """Run ``spikes`` ``(B, T, n_in)`` through the MyHDL unit and the Cython evaluator; returns
    (same decisions, steps and fallbacks?, MyHDL records, Cython ``(decision, step, fallback)``)."""
    from twinspike.hw import glm_neuron as hw_glm
    from twinspike.ext import glm_neuron as cy

    p, w, b = exported.params, exported.weights, exported.biases
    records = hw_glm.run_bench(p, w, b, spikes)
    decision, step, fallback = cy.evaluate(p, w, b, spikes)
    same = ([r["decision"] for r in records] == decision.tolist()
            and [r["step"] for r in records] == step.tolist()
            and [r["fallback"] for r in records] == fallback.tolist())
    return same, records, (decision, step, fallback)


def run(cfg: GlmConfig) -> GlmResults:
    import torch

    from twinspike.data import load_dataset
    from twinspike.ext import glm_neuron as cy
    from twinspike.glm import model as glm

    torch.manual_seed(cfg.seed)
    split = load_dataset(cfg.data)
    x_train, x_test = to_bytes(split.x_train), to_bytes(split.x_test)
    y_train, y_test = np.asarray(split.y_train), np.asarray(split.y_test)
    n_in, n_out = x_train.shape[1], int(max(y_train.max(), y_test.max())) + 1
    base = GlmNeuronParams(n_in=n_in, n_out=n_out, n_kernels=cfg.n_kernels, tau=cfg.tau,
                           max_steps=cfg.max_steps, seed=cfg.sampler_seed)
    s_train, s_test = encode(n_in, cfg, x_train), encode(n_in, cfg, x_test)
    labels, test_labels = torch.tensor(y_train), torch.tensor(y_test)

    train_cfg = glm.TrainConfig(epochs=cfg.epochs, seed=cfg.seed)
    start = time.process_time()
    snn = glm.GlmSnn(base, torch.Generator().manual_seed(cfg.seed))
    glm.train(snn, torch.from_numpy(s_train), labels, train_cfg)
    train_seconds = time.process_time() - start
    with torch.no_grad():
        float_expected = glm.p_correct_by_step(snn.membranes(torch.from_numpy(s_test)),
                                               test_labels).numpy()
    bound = max(glm.trace_sum_bound(base, s_train), glm.trace_sum_bound(base, s_test))
    exported = glm.export(snn, base, bound)

    start = time.perf_counter()
    accuracy, mean_step, fallback = (np.zeros(cfg.max_steps) for _ in range(3))
    for t in range(1, cfg.max_steps + 1):
        decision, step, fb = cy.evaluate(exported.params, exported.weights, exported.biases,
                                         s_test[:, :t])
        accuracy[t - 1] = np.mean(decision == y_test)
        mean_step[t - 1], fallback[t - 1] = step.mean(), fb.mean()
    accuracy_seeds = np.zeros((cfg.extra_sampler_seeds, cfg.max_steps))
    for i in range(cfg.extra_sampler_seeds):
        p = dataclasses.replace(exported.params, seed=cfg.sampler_seed + 1 + i)
        for t in range(1, cfg.max_steps + 1):
            decision, _, _ = cy.evaluate(p, exported.weights, exported.biases, s_test[:, :t])
            accuracy_seeds[i, t - 1] = np.mean(decision == y_test)
    eval_seconds = time.perf_counter() - start

    x01_train = torch.tensor(x_train / 255.0, dtype=torch.float32)
    x01_test = torch.tensor(x_test / 255.0, dtype=torch.float32)
    ann = {}
    for binaries in sorted({0, 1, cfg.n_kernels}):
        net = glm.LinearAnn(n_in, n_out, binaries, torch.Generator().manual_seed(cfg.seed))
        glm.train_ann(net, x01_train, labels, train_cfg, f"ANN ({binaries or 'float'})")
        with torch.no_grad():
            ann[binaries] = float((net(x01_test).argmax(1) == test_labels).float().mean())

    results = GlmResults(cfg, cfg.data, n_in, n_out, len(y_train), len(y_test), exported.params,
                         train_seconds, float_expected, accuracy, accuracy_seeds, mean_step,
                         fallback, ann[0], ann[1], ann[cfg.n_kernels], eval_seconds)
    from twinspike.glm.export import GlmNetwork

    results.network = GlmNetwork(exported.params, exported.weights, exported.biases,
                                 encoder_params(n_in, cfg), cfg.max_steps,
                                 {"data": cfg.data, "seed": cfg.seed, "epochs": cfg.epochs})
    if cfg.myhdl_images:
        sample = s_test[:cfg.myhdl_images]
        results.myhdl_agrees = myhdl_check(exported, sample)[0]
        results.myhdl_checked = len(sample)
    return results


def cycles_per_step(p: GlmNeuronParams) -> int:
    """The unit's cycles per output timestep (``hw/glm_neuron.py``: sweep + drain + sample)."""
    return p.n_in * p.n_kernels + 2


def markdown(r: GlmResults) -> str:
    p, cfg, n_t = r.params, r.config, len(r.accuracy)
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    seeds_mean, seeds_std = r.accuracy_seeds.mean(0), r.accuracy_seeds.std(0)
    t4 = min(4, n_t)
    lines = [
        f"# GLM SNN with binary synapses ({r.data_name})",
        "",
        "Generated by `twinspike glm"
        + (f" --data {r.data_name}" if r.data_name != "digits" else "") + "`: "
        f"{r.n_in} inputs -> {r.n_out} GLM output neurons, {p.n_kernels} raised-cosine kernels "
        f"over tau = {p.tau} steps, binary weights ({r.n_out * r.n_in * p.n_kernels} synapses), "
        f"trained {cfg.epochs} epochs on the exact first-to-spike likelihood "
        f"({r.train_seconds:.0f} s CPU; {r.n_train} train / {r.n_test} test samples, "
        f"seed {cfg.seed}).",
        "",
        f"Quantised unit: `{p.kernel_bits}`-bit kernel table ({p.kernel_frac_bits} fractional "
        f"bits), {p.membrane_bits}-bit saturating membrane and bias, sigmoid LUT "
        f"{1 << p.lut_in_bits} x {p.lut_out_bits} bits over `u >> {p.lut_shift}`, "
        f"{p.lfsr_width}-bit LFSR sampler (seed {p.seed}), inputs rate-encoded by the 16-bit "
        f"LFSR encoder (seed {cfg.encoder_seed}). Accuracies are from the Cython twin of the "
        f"`glm_neuron` unit (first-to-spike decoder, early exit; membrane argmax if nothing "
        f"spikes by T).",
        "",
        "| T | float GLM, exact P(correct) | binary GLM SNN, unit (sampler seed "
        f"{p.seed}) | binary GLM SNN, {len(r.accuracy_seeds)} other sampler seeds | "
        "mean decision step | decided by fallback |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for t in range(n_t):
        lines.append(f"| {t + 1} | {pct(r.float_expected[t])} % | {pct(r.accuracy[t])} % | "
                     f"{pct(seeds_mean[t])} +- {pct(seeds_std[t])} % | {r.mean_step[t]:.2f} | "
                     f"{pct(r.fallback[t])} % |")
    cycles = cycles_per_step(p) * r.mean_step[-1]
    lines += [
        "",
        "| model (same size: one dense layer " f"{r.n_in} -> {r.n_out}) | test accuracy |",
        "|---|---:|",
        f"| ANN, float weights | {pct(r.ann_float)} % |",
        f"| ANN, binary weights alpha * sign(w), {r.n_in * r.n_out} binary synapses | "
        f"{pct(r.ann_binary)} % |",
        f"| ANN, binary weights alpha * (sum of {p.n_kernels} signs), "
        f"{r.n_in * r.n_out * p.n_kernels} binary synapses (as the SNN) | {pct(r.ann_binary_k)} % |",
        f"| binary GLM SNN, quantised, T = {n_t} | {pct(r.final)} % |",
        "",
        f"- Fraction of the final accuracy (T = {n_t}) reached at T = {t4}: "
        f"**{pct(r.fraction_at(t4))} %** (SpinAPS reports 75 % within 4 timesteps).",
        f"- Mean decision timestep with early exit at T = {n_t}: **{r.mean_step[-1]:.2f}** "
        f"({pct(r.fallback[-1])} % of the samples reach T without an output spike).",
        f"- Hardware time: {cycles_per_step(p)} cycles per timestep (n_in * K + 2), "
        f"{cycles:.0f} cycles per inference on average = {cycles / CLOCK_HZ * 1e6:.1f} us at "
        f"{CLOCK_HZ / 1e6:.0f} MHz (assumed clock).",
        "- The unit's sampler LFSRs restart for every inference, so one seed's noise is shared "
        "by all test samples (an output whose lane draws a low level early fires early for "
        "many samples); the spread over seeds shows how much that one draw matters: at "
        f"T = {n_t} the other seeds give {pct(r.accuracy_seeds[:, -1].min())} % to "
        f"{pct(r.accuracy_seeds[:, -1].max())} %.",
        "- Training objective: log(sum_t P(correct output spikes first, alone, at t) + "
        "P(no spike by T) / n_out), exact (no sampling); the float column is the exact "
        "probability of a correct decision of the trained model before quantisation (binary "
        "weights, real scale and biases), ties and fallback as in the unit.",
    ]
    if r.myhdl_checked:
        verdict = "the same" if r.myhdl_agrees else "**different**"
        lines.append(f"- MyHDL twin of the unit on the first {r.myhdl_checked} test samples: "
                     f"{verdict} decisions, decision steps and fallback flags as the Cython "
                     f"evaluator.")
    lines.append("")
    return "\n".join(lines)


def plot(r: GlmResults, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(1, len(r.accuracy) + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(t, 100 * r.float_expected, "o-", label="float GLM, exact P(correct)")
    ax.plot(t, 100 * r.accuracy, "s-", label=f"binary GLM SNN, unit (seed {r.params.seed})")
    mean, std = 100 * r.accuracy_seeds.mean(0), 100 * r.accuracy_seeds.std(0)
    ax.fill_between(t, mean - std, mean + std, alpha=0.25, label="other sampler seeds (mean +- std)")
    ax.axhline(100 * r.ann_float, ls="--", c="k", label="ANN, float weights")
    ax.axhline(100 * r.ann_binary, ls=":", c="k", label="ANN, binary weights")
    ax.axhline(100 * r.ann_binary_k, ls="-.", c="gray",
               label=f"ANN, {r.params.n_kernels} binary weights per synapse")
    ax.set_xlabel("timesteps T")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"GLM SNN, first-to-spike decoding ({r.data_name})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def write(r: GlmResults, out: Path) -> tuple[Path, Path]:
    """The markdown table at ``out``, the plot beside it (same name, ``.png``) and the
    exported network (same name, ``.npz`` + ``.json``: ``twinspike/glm/export.py``, the file
    ``twinspike compile`` takes)."""
    out = Path(out)
    png = out.with_suffix(".png")
    plot(r, png)
    text = markdown(r)
    if r.network is not None:
        from twinspike.glm.export import save

        npz, js = save(r.network, out.with_suffix(""))
        text += (f"- Exported network: `{npz.name}` + `{js.name}` (no pickle); "
                 f"`twinspike compile {npz.name} --out DIR` writes the GLM top's memory "
                 f"images (`--vivado`: its Vivado script; `twinspike.board.GlmAccelerator` "
                 f"drives it: [accelerator.md](accelerator.md#glm-deployment)).\n")
    text += f"\n![accuracy vs T]({png.name})\n"
    write_text(out, text)
    return out, png
