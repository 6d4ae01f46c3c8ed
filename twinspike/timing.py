"""Timing diagrams from a real simulation trace: read a MyHDL VCD (``toolchain.simulate(...,
vcd=...)``, ``twinspike hw-metrics --vcd``) and draw one timestep of the layer sequencer.

The VCD reader is a few lines of our own: the format (IEEE 1364 section 18) is plain text, only
scalar, vector (``b...``) and string (``s...``) changes of named signals are needed, and no
library for it is among the project's dependencies.
"""
from __future__ import annotations

import re
from pathlib import Path

#: What the diagram shows, from the sequencer's scope: (signal, label, kind).
TIMING_SIGNALS = (("state", "FSM state", "string"), ("q", "population q", "value"),
                  ("st_we", "state RAM write", "pulse"), ("sp_we", "spike RAM write", "pulse"),
                  ("mode", "lane op (1 acc, 2 fire)", "value"), ("sop", "SOP counter",
                                                                     "value"))


def read_vcd(path, names, scope: str) -> dict[str, list[tuple[int, object]]]:
    """The value changes ``[(time, value)]`` of the signals ``names`` declared in the scope
    named ``scope`` (MyHDL numbers instances, and a conversion in the same process adds
    ``_0``-style suffixes: ``scope`` followed by digits and underscores matches too);
    vectors as ints (x/z bits as 0), strings as str. Raises ``ValueError`` naming a signal
    the file does not have there."""
    path = Path(path)
    pattern = re.compile(re.escape(scope) + r"[\d_]*$")
    ids: dict[str, str] = {}
    stack: list[str] = []
    changes: dict[str, list[tuple[int, object]]] = {n: [] for n in names}
    time = 0
    with path.open() as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("$scope"):
                stack.append(line.split()[2])
            elif line.startswith("$upscope"):
                stack.pop()
            elif line.startswith("$var"):
                parts = line.split()
                if stack and pattern.match(stack[-1]) and parts[4] in changes:
                    ids.setdefault(parts[3], parts[4])
            elif line.startswith("#"):
                time = int(line[1:])
            elif line[0] in "bB":
                value, ident = line[1:].split()
                if ident in ids:
                    digits = value.lower().replace("x", "0").replace("z", "0")
                    changes[ids[ident]].append((time, int(digits, 2)))
            elif line[0] in "sS" and " " in line:
                value, ident = line[1:].split()
                if ident in ids:
                    changes[ids[ident]].append((time, value))
            elif line[0] in "01xzXZ" and len(line) > 1 and not line.startswith("$"):
                if line[1:] in ids:
                    changes[ids[line[1:]]].append((time, 1 if line[0] == "1" else 0))
    missing = [n for n in names if n not in ids.values()]
    if missing:
        raise ValueError(f"{path}: no signal {', '.join(missing)} in scope {scope!r}")
    return changes


def value_at(changes: list[tuple[int, object]], time: int, default=0):
    """The signal's value at ``time`` (its last change at or before it)."""
    value = default
    for t, v in changes:
        if t > time:
            break
        value = v
    return value


def timestep_window(changes_t: list[tuple[int, object]], step: int,
                    changes_state: list[tuple[int, object]]) -> tuple[int, int]:
    """``(start, end)`` times during which the sequencer's timestep counter ``t`` was
    ``step`` (end: its next change, or for the last timestep the move to ``ARGMAX``)."""
    for i, (time, value) in enumerate(changes_t):
        if value == step:
            if i + 1 < len(changes_t):
                return time, changes_t[i + 1][0]
            ends = [t for t, v in changes_state if t > time and v == "ARGMAX"]
            if not ends:
                raise ValueError(f"the trace ends inside timestep {step}")
            return time, ends[0]
    raise ValueError(f"the trace has no timestep {step}")


def plot_timestep(vcd, out_png, step: int = 1, scope: str = "layer_sequencer",
                  half_period: int = 5) -> Path:
    """Draw timestep ``step`` of the trace's first image: the FSM state as coloured bands, the
    population being run, the state and spike RAM writes, the lane operation and the SOP
    counter, against clock cycles. Written atomically to ``out_png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from twinspike.atomic import save_figure

    names = [n for n, _, _ in TIMING_SIGNALS] + ["t"]
    ch = read_vcd(vcd, names, scope)
    start, end = timestep_window(ch["t"], step, ch["state"])
    period = 2 * half_period
    fig, axes = plt.subplots(len(TIMING_SIGNALS), 1, figsize=(12, 1.1 * len(TIMING_SIGNALS) + 1),
                             sharex=True)
    for ax, (name, label, kind) in zip(axes, TIMING_SIGNALS):
        inside = [(t, v) for t, v in ch[name] if start <= t < end]
        points = [(start, value_at(ch[name], start))] + inside + [(end, None)]
        if kind == "string":
            palette = {}
            for (t0, v), (t1, _) in zip(points, points[1:]):
                color = palette.setdefault(v, f"C{len(palette) % 10}")
                ax.axvspan((t0 - start) / period, (t1 - start) / period, color=color, alpha=0.6)
            handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.6) for c in palette.values()]
            ax.legend(handles, list(palette), ncol=min(len(palette), 9), fontsize=7,
                      loc="upper left", bbox_to_anchor=(0, 1.45), frameon=False)
            ax.set_yticks([])
        elif kind == "pulse":
            high = 0
            for (t0, v), (t1, _) in zip(points, points[1:]):
                if v:
                    ax.axvspan((t0 - start) / period, (t1 - start) / period, color="C0")
                    high += t1 - t0
            ax.set_yticks([])
            ax.set_title(f"{label}: high {high // period} cycles", fontsize=8, loc="right")
        else:
            xs = [(t - start) / period for t, _ in points[:-1]] + [(end - start) / period]
            ys = [v for _, v in points[:-1]]
            ax.step(xs, ys + ys[-1:], where="post", linewidth=0.8)
        ax.set_ylabel(label, rotation=0, ha="right", fontsize=8)
    axes[-1].set_xlabel(f"clock cycles into timestep {step} (t = {step})")
    fig.suptitle(f"layer sequencer, one timestep from {Path(vcd).name} "
                 f"({(end - start) // period} cycles)", fontsize=10)
    fig.tight_layout()
    out = save_figure(fig, out_png, dpi=120)
    plt.close(fig)
    return Path(out)
