"""``twinspike accuracy`` and ``twinspike demo``: train (or load), convert, evaluate, report.

For every model of :data:`RECIPES` (its :class:`Recipe` fixes the width multiplier, the QCFS
levels and every stage's epochs), every weight width and two weight sets -- ``converted``
(the quant stage: QAT, then plain conversion) and ``fine-tuned`` (the snn stage, trained
as the SNN at ``T = recipe.timesteps``) -- the integer network is built for the direct and the
rate input encoding and run on the digits test split by the Cython evaluator
(``twinspike.ext.evaluate``) at every ``T`` of :data:`TIMESTEPS`. The DNN columns
(:func:`twinspike.convert.train.dnn_accuracy`) are the fp32 net, the QCFS net (float weights,
BN folded) and the quantised DNN (the integer weights, thresholds and biases with QCFS levels
between the layers).
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from twinspike.atomic import save_figure, write_text
from twinspike.ext.evaluate import evaluate
from twinspike.readme import update_block
from twinspike.network import Network, save

from .convert import membrane_bits, saturation_free, to_network
from .train import Recipe, Trained, dnn_accuracy, load_or_train

#: The default recipe of each model (the width multipliers are reported with the results).
RECIPES = {
    "mlp": Recipe("mlp", width=1.0),
    "cnn": Recipe("cnn", width=0.5),
    "vgg11": Recipe("vgg11", width=0.5),
    "resnet18": Recipe("resnet18", width=0.5),
}
TIMESTEPS = (1, 2, 4, 8, 16, 32)
ENCODINGS = ("direct", "rate")
#: Weight sets: the stage of :class:`Trained` they come from.
VARIANTS = {"converted": "quant", "fine-tuned": "snn"}
#: The paper's goal: the SNN at this T within GOAL_POINTS of the FP32 DNN.
GOAL_T, GOAL_POINTS = 8, 1.0
#: Test images the demo runs on the MyHDL engines (a CNN image is ~1 minute of simulation on
#: one core; the demo has a 5-minute budget on 2 cores).
DEMO_HW_IMAGES = 3


@dataclass
class Row:
    """Test accuracies (fractions) of one converted network and the DNNs it came from."""

    model: str
    width: float
    weight_bits: int
    variant: str
    encoding: str
    membrane_bits: int
    saturation_free: bool
    fp32: float
    qcfs: float
    quant: float
    snn: dict[int, float]

    @property
    def gap(self) -> float:
        """FP32 minus SNN accuracy at :data:`GOAL_T`, in percentage points."""
        return 100 * (self.fp32 - self.snn[GOAL_T])


def integer_snn(dnn, x_calib, encoding: str = "direct", timesteps: int = max(TIMESTEPS)) -> Network:
    """The integer SNN of a quant- or snn-stage ``dnn``, its membrane width chosen on the
    calibration images ``x_calib`` for runs of up to ``timesteps`` steps."""
    return to_network(dnn, encoding, membrane_bits(dnn, x_calib, timesteps, encoding))


def snn_accuracy(net: Network, x_test, y_test, timesteps=TIMESTEPS) -> dict[int, float]:
    """Spike-count decoded accuracy at each ``T`` (Cython evaluator)."""
    return {T: float(np.mean(evaluate(net, x_test, T).predictions == y_test))
            for T in timesteps}


def rows_of(trained: Trained, split, timesteps=TIMESTEPS, encodings=ENCODINGS) -> list[Row]:
    """Convert and evaluate every weight width, variant and encoding of ``trained``."""
    x_train, _, x_test, y_test = split
    r = trained.recipe
    fp32 = dnn_accuracy(trained.fp32, x_test, y_test)
    qcfs = dnn_accuracy(trained.qcfs, x_test, y_test)
    rows = []
    for bits in r.weight_bits:
        for variant, stage in VARIANTS.items():
            dnn = getattr(trained, stage)[bits]
            quant = dnn_accuracy(dnn, x_test, y_test)
            for encoding in encodings:
                net = integer_snn(dnn, x_train, encoding, max(timesteps))
                rows.append(Row(r.model, r.width, bits, variant, encoding, net.membrane_bits,
                                saturation_free(net, x_test, max(timesteps)), fp32, qcfs, quant,
                                snn_accuracy(net, x_test, y_test, timesteps)))
    return rows


def markdown_table(rows: list[Row]) -> str:
    timesteps = sorted(rows[0].snn)
    head = ["model", "width", "w bits", "weights", "input", "m bits", "FP32 DNN", "QCFS DNN",
            "quantised DNN", *(f"T={T}" for T in timesteps), f"FP32 - SNN(T={GOAL_T})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        membrane = f"{row.membrane_bits}{'' if row.saturation_free else '*'}"
        dnns = (row.fp32, row.qcfs, row.quant)
        cells = [row.model, f"{row.width:g}", str(row.weight_bits), row.variant, row.encoding,
                 membrane, *(f"{100 * a:.2f}" for a in dnns),
                 *(f"{100 * row.snn[T]:.2f}" for T in timesteps), f"{row.gap:+.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: The README block that ``twinspike accuracy`` rewrites (``twinspike/readme.py``).
README_BLOCK = ("accuracy", "twinspike accuracy")
README_TIMESTEPS = (1, 2, 4, 8, 16)


def readme_table(rows: list[Row]) -> str:
    """The README's table: per model and weight width, the FP32 and quantised DNN and the
    fine-tuned SNN (direct input) at T = 1, 2, 4, 8, 16, with the goal's gap."""
    head = ["model (width)", "w bits", "FP32 DNN", "quantised DNN",
            *(f"SNN T={T}" for T in README_TIMESTEPS), f"FP32 - SNN(T={GOAL_T})", "goal"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 3) + "---|"]
    for row in rows:
        if row.variant != "fine-tuned" or row.encoding != "direct":
            continue
        cells = [f"{row.model} ({row.width:g})", str(row.weight_bits),
                 f"{100 * row.fp32:.2f}", f"{100 * row.quant:.2f}",
                 *(f"{100 * row.snn[T]:.2f}" for T in README_TIMESTEPS), f"{row.gap:+.2f}",
                 "met" if row.gap <= GOAL_POINTS else "**missed**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_readme(path: Path, rows: list[Row]) -> bool:
    """Replace the README's accuracy block with :func:`readme_table` (atomically). Returns
    False, changing nothing, if ``path`` does not exist or lacks the markers (a README that is
    not twinspike's)."""
    if {r.model for r in rows} != set(RECIPES) or any(set(README_TIMESTEPS) - set(r.snn)
                                                      for r in rows):
        raise ValueError(f"{path}: the README table needs every model ({', '.join(RECIPES)}) "
                         f"at T = {README_TIMESTEPS}; run `twinspike accuracy` without --models")
    return update_block(path, *README_BLOCK, readme_table(rows))


def plot_accuracy(rows: list[Row], path: Path) -> None:
    """One panel per model: SNN accuracy vs T per weight width, variant and encoding."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(row.model for row in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False,
                             sharey=True)
    for ax, model in zip(axes[0], models):
        mine = [row for row in rows if row.model == model]
        ts = sorted(mine[0].snn)
        for row in mine:
            ax.plot(ts, [100 * row.snn[T] for T in ts],
                    marker="o" if row.variant == "fine-tuned" else "x",
                    linestyle="-" if row.encoding == "direct" else ":",
                    label=f"w{row.weight_bits} {row.variant} {row.encoding}")
        ax.axhline(100 * mine[0].fp32, color="black", linewidth=0.8, label="FP32 DNN")
        ax.axvline(GOAL_T, color="grey", linewidth=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts, [str(T) for T in ts])
        ax.minorticks_off()
        ax.set_xlabel("timesteps T")
        ax.set_title(f"{model} (width {mine[0].width:g})")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_raster(net: Network, image: np.ndarray, T: int, path: Path, title: str) -> None:
    """Spike raster of every population of ``net`` for one image over ``T`` steps, one panel
    per population, neurons by address (each population's trains come from the evaluator run
    on the network truncated after it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [max(0.8, np.log10(pop.size)) for pop in net.populations][::-1]
    fig, axes = plt.subplots(len(heights), 1, figsize=(6, 0.6 * sum(heights) + 1.2),
                             sharex=True, gridspec_kw={"height_ratios": heights})
    for k, (pop, ax) in enumerate(zip(net.populations, axes[::-1])):
        upto = dataclasses.replace(net, populations=net.populations[:k + 1])
        spikes = evaluate(upto, image[None], T).spikes[0]          # [T, size]
        ax.imshow(spikes.T, aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0.5, T + 0.5, pop.size - 0.5, -0.5))
        ax.set_ylabel(f"{pop.name}\n{int(spikes.sum())} spikes", fontsize=7)
        ax.tick_params(labelsize=6)
    out_counts = evaluate(net, image[None], T).counts[0]
    axes[0].set_yticks(range(net.n_outputs))
    axes[0].set_title(f"{title}\noutput counts {out_counts.tolist()}", fontsize=8)
    axes[-1].set_xlabel("timestep")
    axes[-1].set_xticks(range(1, T + 1))
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def setup_torch(threads: int) -> None:
    """Reproducible CPU training: ``threads`` intra-op threads, deterministic kernels."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def run_accuracy(models, runs: Path, out: Path, plot: Path, retrain: bool = False,
                 timesteps=TIMESTEPS, readme: Path | None = None) -> list[Row]:
    """``twinspike accuracy``: every model in ``models``, the table to ``out`` (markdown) and
    the accuracy-vs-T plot to ``plot``, the summary into ``readme`` (:func:`update_readme`,
    when it has the markers and all models ran); returns the rows."""
    from twinspike.data import load_digits_split

    split = load_digits_split()
    rows, notes = [], []
    for model in models:
        trained, cached = load_or_train(RECIPES[model], runs, split.x_train, split.y_train,
                                        retrain)
        notes.append(f"{model}: {'cached' if cached else 'trained'} weights "
                     f"({trained.seconds:.0f} s of training)")
        print(notes[-1], flush=True)
        rows += rows_of(trained, split, timesteps)
        print(markdown_table([row for row in rows if row.model == model]), flush=True)
    write_text(out, accuracy_page(rows, notes, plot.name))
    plot_accuracy(rows, plot)
    if readme is not None and set(models) == set(RECIPES):
        print(f"{readme}: " + ("accuracy table updated" if update_readme(readme, rows) else
                               "not updated (no such file, or no accuracy markers)"))
    return rows


def accuracy_page(rows: list[Row], notes: list[str], plot_name: str) -> str:
    recipes = "\n".join(f"- `{RECIPES[m]!r}`" for m in dict.fromkeys(r.model for r in rows))
    goal = [r for r in rows if r.variant == "fine-tuned" and r.encoding == "direct"]
    met = "\n".join(f"- {r.model} w{r.weight_bits}: FP32 {100 * r.fp32:.2f} %, SNN(T={GOAL_T}) "
                    f"{100 * r.snn[GOAL_T]:.2f} %, gap {r.gap:+.2f} points: "
                    f"{'met' if r.gap <= GOAL_POINTS else 'missed'}" for r in goal)
    return f"""# Accuracy of the converted SNNs (digits test split, 450 images)

Written by `twinspike accuracy` (code: `twinspike/convert/`). Accuracies in percent;
the SNN is the integer network run by the Cython evaluator with spike-count decoding
(ties to the lowest class). `weights`: *converted* = the quantisation-aware trained DNN
converted as is; *fine-tuned* = the same network after fine-tuning the SNN itself at
T = {RECIPES['cnn'].timesteps} (forward through the IF dynamics). `m bits`: the membrane width
chosen for the network{saturation_note(rows)}. One test image is 0.22 points.

{markdown_table(rows)}
![accuracy vs timesteps]({plot_name})

## The paper's goal: SNN at T = {GOAL_T} within {GOAL_POINTS:g} point of the FP32 DNN

Fine-tuned weights, direct input:

{met}

## Method

1. **FP32 DNN**: conv/dense layers with batch-norm and ReLU, 2x2 average pools (no max-pool),
   trained with cross-entropy. VGG-11 keeps its eight 3x3 convs with three pools (8x8 -> 1x1);
   ResNet-18 has basic blocks [2, 2, 2, 2] with 1x1-conv shortcuts where the shape changes.
2. **QCFS**: every ReLU becomes `lam/L * clip(floor(z L / lam + 1/2), 0, L)` with a trainable
   `lam` per layer, fine-tuned with BN still in place; then BN is folded into the weights and
   biases.
3. **Quantised DNN** (QAT): per population, the weights scaled by their source's spike value
   share one integer unit `s = max|w g| / (2^(b-1) - 1)`; weights `round(w g / s)` (b bits),
   bias `round(b / s)`, threshold `theta = round(lam / s)` (threshold balancing), `v0 =
   theta // 2`; a 2x2 pool is a sum-pool population with `theta = 4`; an identity shortcut is
   a 1x1 conv projection with a diagonal weight into the block's output population. The
   forward pass is the integer network's closed form (QCFS levels between the layers), so the
   conversion is exact up to the spike timing. Its accuracy column reads the output layer's
   current.
4. **Fine-tuning the SNN**: the same integer network run for T steps (exactly the evaluator's
   spike counts), trained through time with a triangle surrogate gradient; the output count
   has a straight-through gradient so that a silent output neuron still learns. Its length
   (`epochs_snn = 20`) was picked on a validation split cut out of the training split, never
   on the test split: `python examples/validate_snn_epochs.py --model resnet18 --bits 4`
   (1100 training / 247 validation images) gives 93.93 / 97.17 / 97.17 % at T = 8 after
   6 / 12 / 20 epochs, and 20 is best at T = 4 and 16 (94.33 % and 98.38 %). With the earlier
   6 epochs the 4-bit ResNet-18 missed the goal by 0.11 points (97.78 % at T = 8).

Conversion alone loses accuracy at small T in the deep nets (*converted* rows): layer by
layer, spikes that arrive in an uneven order within the T steps make counts deviate from the
QCFS levels, and the deviations pile up with depth. Fewer QCFS levels than timesteps (L = 4
for T = 8), wider layers (width 0.5 rather than 0.25) and the SNN fine-tuning close most of
the gap. Rate-coded input needs more timesteps: a Bernoulli pixel carries its value only on
average.

## Recipes

{recipes}

Training time (wall clock on the machine of this run; 2-core CPU, shared):

{chr(10).join(f"- {n}" for n in notes)}
"""


def saturation_note(rows: list[Row]) -> str:
    T = max(rows[0].snn)
    if all(row.saturation_free for row in rows):
        return (f"; with it every network gives the same output spike counts on the test "
                f"images at T = {T} as with 24-bit membranes")
    return (f"; * marks a network whose output spike counts at T = {T} differ from those "
            "with 24-bit membranes (saturation matters)")


def hardware_check(net: Network, images: np.ndarray, T: int) -> str | None:
    """Hook for the demo: compare the MyHDL engines with the Cython evaluator on ``images``
    and return one line for the demo's output (``twinspike.hwmetrics.demo_hw_check``). The
    images are simulated in parallel, one process per CPU core at most."""
    from twinspike.hwmetrics import demo_hw_check

    return demo_hw_check(net, images, T, workers=min(len(images), os.cpu_count() or 1))


def run_demo(out: Path, runs: Path, retrain: bool = False, raster_T: int = GOAL_T) -> None:
    """``twinspike demo``: the CNN trained (or loaded), converted and evaluated; the table is
    printed, the accuracy plot and a spike raster saved under ``out``."""
    from twinspike.data import load_digits_split

    start = time.perf_counter()
    split = load_digits_split()
    trained, cached = load_or_train(RECIPES["cnn"], runs, split.x_train, split.y_train, retrain)
    print(f"cnn: {'cached' if cached else 'trained'} weights ({trained.seconds:.0f} s of "
          f"training), {RECIPES['cnn']!r}", flush=True)
    rows = rows_of(trained, split)
    print(markdown_table(rows))
    out.mkdir(parents=True, exist_ok=True)
    plot_accuracy(rows, out / "demo_accuracy.png")
    bits = max(trained.recipe.weight_bits)
    net = integer_snn(trained.snn[bits], split.x_train)
    # The network file `twinspike eval` and `twinspike hw-metrics` take (README).
    model_path, _ = save(net, Path(runs) / f"digits-cnn-w{bits}.npz")
    image, label = split.x_test[0], int(split.y_test[0])
    plot_raster(net, image, raster_T, out / "demo_raster.png",
                f"CNN w{bits} fine-tuned, direct input, test image 0 (label {label}), "
                f"T={raster_T}: spikes per population")
    line = hardware_check(net, split.x_test[:DEMO_HW_IMAGES], GOAL_T)
    if line:
        print(line)
    print(f"wrote {model_path} (with its .json), {out / 'demo_accuracy.png'} and "
          f"{out / 'demo_raster.png'} "
          f"({time.perf_counter() - start:.0f} s)")
