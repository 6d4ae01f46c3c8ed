"""Benchmark: twinspike's Cython batch evaluator against snnTorch, SpikingJelly, Norse and numpy.

Every peer computes the same integer SNNs (``benchmarks/snn_peers.py`` says how each library
reproduces the IF semantics exactly) on the same direct-encoded inputs for ``T`` timesteps;
each peer's output spike counts must equal twinspike's or the run aborts. Reported per network,
thread count and batch size: images/s and GSOP/s (synaptic operations as twinspike counts them)
from the median of several timed calls (the best call beside it), each speed as a fraction of
the fastest, and the peak resident memory of the timed calls. Each evaluator runs in its own
process (clean memory peaks, no import sharing), all on the same number of threads (OpenMP,
torch and BLAS).

    python benchmarks/bench_eval.py                  # writes docs/benchmarks.md and prints it
    python benchmarks/bench_eval.py --quick --no-write

The peers are an optional extra (``benchmark`` in setup.py), installed by
``bash benchmarks/install_peers.sh``; missing peers are skipped with the reason.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snn_peers  # noqa: E402  (the benchmarks folder is not a package)

from twinspike.atomic import write_text  # noqa: E402
from twinspike.ext import network as cy  # noqa: E402
from twinspike.network import Network, Population, Projection, as_chw, load, save  # noqa: E402
from twinspike.sw.common import signed_max  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUNNERS = ("twinspike", *snn_peers.PEERS)
DIGITS_SHAPE = (1, 8, 8)


# ----------------------------------------------------------------------------- networks

@dataclass
class Layer:
    """One population of a network to build: ``kind`` dense|conv|pool, ``size`` (neurons of a
    dense layer, channels of a conv), ``kernel``/``padding`` for conv and pool."""

    name: str
    kind: str
    size: int = 0
    kernel: int = 3
    padding: int = 1


MLP = [Layer("fc1", "dense", 256), Layer("fc2", "dense", 256), Layer("out", "dense", 10)]
CNN = [Layer("conv1", "conv", 32), Layer("conv2", "conv", 64), Layer("pool1", "pool", kernel=2),
       Layer("conv3", "conv", 128), Layer("pool2", "pool", kernel=2), Layer("out", "dense", 10)]
LARGE = [Layer("fc1", "dense", 1024), Layer("fc2", "dense", 256), Layer("out", "dense", 10)]


def layer_shape(layer: Layer, src: tuple) -> tuple:
    if layer.kind == "dense":
        return (layer.size,)
    c, h, w = as_chw(src)
    if layer.kind == "pool":
        return (c, h // layer.kernel, w // layer.kernel)
    return (layer.size, h + 2 * layer.padding - layer.kernel + 1,
            w + 2 * layer.padding - layer.kernel + 1)


def projection(layer: Layer, source: str, src: tuple, rng) -> Projection:
    """Random int8 weights (normal, sd 40, clipped to the signed 8-bit range)."""
    if layer.kind == "pool":
        return Projection("pool", source, kernel=layer.kernel, stride=layer.kernel)
    n_in = int(np.prod(src))
    shape = ((layer.size, n_in) if layer.kind == "dense"
             else (layer.size, as_chw(src)[0], layer.kernel, layer.kernel))
    weight = np.clip(np.rint(rng.normal(0, 40, shape)), -127, 127).astype(np.int64)
    if layer.kind == "dense":
        return Projection("dense", source, weight)
    return Projection("conv", source, weight, kernel=layer.kernel, padding=layer.padding)


def random_network(layers: list[Layer], input_shape: tuple, calibration: np.ndarray, T: int,
                   seed: int, name: str) -> Network:
    """An integer SNN of ``layers`` with random weights, each threshold calibrated on
    ``calibration`` images so that the population fires at a realistic rate: theta is the
    90th percentile of its neurons' mean synaptic current per step (a 2x2 sum-pool gets
    theta 4 as conversion gives it), ``v0 = theta // 2``, bias uniform in +-theta/8."""
    rng = np.random.default_rng(seed)
    pops, source, src = [], "input", input_shape
    for layer in layers:
        proj = projection(layer, source, src, rng)
        shape = layer_shape(layer, src)
        size = int(np.prod(shape))
        if layer.kind == "pool":
            theta, bias = layer.kernel ** 2, np.zeros(size, np.int64)
        else:
            theta = calibrated_theta(input_shape, pops, proj, shape, calibration, T)
            bias = rng.integers(-(theta // 8), theta // 8 + 1, size)
        pops.append(Population(layer.name, shape, (proj,), bias, theta, v0=theta // 2))
        source, src = layer.name, shape
    return Network(input_shape, tuple(pops), input_bits=8, weight_bits=8, membrane_bits=24,
                   metadata={"name": name, "weights": "random int8 (normal, sd 40), thresholds "
                             "calibrated to the 90th percentile of the mean current, 24-bit "
                             "membranes"})


def calibrated_theta(input_shape, pops, proj: Projection, shape, images, T: int) -> int:
    """90th percentile of the mean synaptic current per step that ``proj`` drives into a
    population of ``shape`` after ``pops``."""
    if pops:
        events = snn_peers.numpy_spikes(Network(input_shape, tuple(pops), membrane_bits=24),
                                        images, T)[proj.source]
        src = pops[-1].shape
    else:
        events, src = images.reshape(1, len(images), -1).astype(np.float64), input_shape
    current = snn_peers.numpy_projection(proj, proj.weight.astype(np.float64),
                                         events.reshape(-1, events.shape[-1]), src, shape)
    mean = current.reshape(len(events), len(images), -1).mean(axis=0)
    return int(np.clip(np.rint(np.quantile(mean, 0.9)), 1, signed_max(24) // 4))


def sparse_images(n: int, seed: int) -> np.ndarray:
    """Synthetic 28x28 images with MNIST-like density: 20 % non-zero pixels, uniform 1..255."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(1, 256, (n, 1, 28, 28)) * (rng.random((n, 1, 28, 28)) < 0.2)
    return pixels.astype(np.uint8)


#: The quick co-optimisation of the digits models (epochs fp32/qcfs/quant, 8-bit weights).
QUICK_EPOCHS = (3, 3, 2)


def converted_digits(model: str, split, cache: Path) -> Network | None:
    """The digits ``model`` (``mlp`` | ``cnn``) of the conversion flow, quickly trained
    (:data:`QUICK_EPOCHS`, quant stage) and converted with 24-bit membranes, cached as
    ``cache/digits-model``; ``None`` if the conversion flow (``twinspike.convert``) is absent."""
    try:
        from twinspike.convert.convert import to_network
        from twinspike.convert.train import Recipe, co_optimise, dnn_accuracy
    except ImportError:
        return None
    fp32, qcfs, quant = QUICK_EPOCHS
    recipe = Recipe(model=model, width=1.0, weight_bits=(8,), epochs_fp32=fp32,
                    epochs_qcfs=qcfs, epochs_quant=quant, epochs_snn=0, seed=0)
    path = cache / f"digits-{model}"
    if path.with_suffix(".json").is_file():
        net = load(path)
        if net.metadata.get("recipe") == repr(recipe):
            return net
    dnn = co_optimise(recipe, split.x_train, split.y_train).quant[8]
    accuracy = dnn_accuracy(dnn, split.x_test, split.y_test)
    net = to_network(dnn, membrane_bits=24, metadata={
        "recipe": repr(recipe), "weights": f"converted from a quickly trained DNN "
        f"({'+'.join(map(str, QUICK_EPOCHS))} epochs fp32+QCFS+quant, 8-bit weights, quantised "
        f"DNN test accuracy {100 * accuracy:.1f} %), 24-bit membranes"})
    cache.mkdir(parents=True, exist_ok=True)
    save(net, path)
    return net


def build_networks(T: int, batch: int, names, cache: Path) -> dict:
    """``{name: (network, batch images)}`` for :data:`NETWORKS`: the digits models from the
    conversion flow (random int8 weights of the same architecture without it) on digits test
    images, the large MLP with random weights on synthetic images."""
    from twinspike.data import load_digits_split
    split = load_digits_split(seed=0)
    built = {}
    for name in names:
        if name.startswith("digits-"):
            model = name.split("-")[1]
            net = converted_digits(model, split, cache) or random_network(
                {"mlp": MLP, "cnn": CNN}[model], DIGITS_SHAPE, split.x_train[:128], T, 1, name)
            built[name] = (net, split.x_test[:batch])
        else:
            images = sparse_images(batch + 128, seed=1)
            built[name] = (random_network(LARGE, (1, 28, 28), images[batch:], T, 3, name),
                           images[:batch])
    return built


NETWORKS = {
    "digits-mlp": "the conversion flow's digits MLP: dense 64-256-256-10",
    "digits-cnn": "the conversion flow's digits CNN: conv32-conv64-pool2-conv128-pool2-dense10 "
                  "on 8x8, 3x3 convs with padding 1",
    "large-mlp": "dense 784-1024-256-10 on synthetic 28x28 images (20 % non-zero pixels)",
}


def synapses(net: Network) -> int:
    return sum(proj.weight.size for pop in net.populations for proj in pop.projections
               if proj.weight is not None)


# ----------------------------------------------------------------------------- runners

class TwinspikeRunner:
    """The Cython batch evaluator: network compiled once, one nogil OpenMP call per batch."""

    name = "twinspike"

    def __init__(self, net: Network, T: int):
        self.compiled, self.T = cy.CompiledNetwork(net), T

    def run(self, images: np.ndarray):
        """``(spikes [B, T, n_out], sops [B])``."""
        spikes, _, sops, _ = cy.run_batch(self.compiled, images.reshape(len(images), -1), None,
                                          self.T)
        return spikes, sops

    def counts(self, images: np.ndarray) -> np.ndarray:
        return self.run(images)[0].sum(axis=1, dtype=np.int64)


def make_runner(name: str, net: Network, T: int):
    return TwinspikeRunner(net, T) if name == "twinspike" else snn_peers.make_peer(name, net, T)


class Mismatch(AssertionError):
    """A peer's output spike counts differ from twinspike's."""


def check_counts(name: str, got: np.ndarray, expected: np.ndarray, what: str) -> None:
    if got.shape != expected.shape or not np.array_equal(got, expected):
        bad = np.argwhere(got != expected) if got.shape == expected.shape else None
        where = "" if bad is None or not len(bad) else (
            f"; first at image {bad[0][0]} output {bad[0][1]}: {name} "
            f"{got[tuple(bad[0])]} != twinspike {expected[tuple(bad[0])]}")
        raise Mismatch(f"{name} output spike counts differ from twinspike on {what} "
                       f"(shape {got.shape} vs {expected.shape}{where})")


def check_peers(net: Network, images: np.ndarray, T: int, peers=snn_peers.PEERS) -> dict:
    """The correctness check: every installed peer's output spike counts equal twinspike's on
    ``images`` (after proving no membrane saturates). Returns ``{peer: "ok" | skip reason}``;
    raises :class:`Mismatch` or :class:`snn_peers.Saturation`."""
    snn_peers.check_no_saturation(net, images, T)
    expected = TwinspikeRunner(net, T).counts(images)
    status = {}
    for name in peers:
        missing = snn_peers.peer_missing(name)
        if missing:
            status[name] = missing
            continue
        check_counts(name, snn_peers.make_peer(name, net, T).counts(images), expected,
                     f"{len(images)} images")
        status[name] = "ok"
    return status


# ----------------------------------------------------------------------------- timing (worker)

def rss_kib(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def timed(runner, batches: list[np.ndarray], expected: list[np.ndarray], warmup: int) -> dict:
    """Time ``runner.counts`` on each batch after ``warmup`` untimed calls, checking every
    result; returns the per-call seconds and the memory peak of the timed calls."""
    for images in batches[:warmup]:
        runner.counts(images)
    gc.collect()
    reset_peak_rss()
    base = rss_kib("VmRSS")
    seconds = []
    for i, images in enumerate(batches):
        start = time.perf_counter()
        counts = runner.counts(images)
        seconds.append(time.perf_counter() - start)
        check_counts(runner.name, counts, expected[i], f"timed call {i}")
    peak = rss_kib("VmHWM")
    return {"seconds": seconds, "peak_mib": peak / 1024, "work_mib": (peak - base) / 1024}


def worker(args) -> None:
    """Time one runner on one network at batch 1 and at the full batch; print JSON."""
    import threadpoolctl
    threads = args.threads[0]
    threadpoolctl.threadpool_limits(threads)
    if args.worker not in ("twinspike", "numpy"):
        import torch
        torch.set_num_threads(threads)
        torch.set_float32_matmul_precision("highest")
    net = load(Path(args.dir) / args.net)
    data = np.load(Path(args.dir) / f"{args.net}.inputs.npz")
    images, expected = data["images"], data["counts"]
    runner = make_runner(args.worker, net, args.T)
    singles = [images[i:i + 1] for i in range(args.single)]
    result = {"runner": args.worker, "net": args.net,
              "b1": timed(runner, singles, [expected[i:i + 1] for i in range(args.single)],
                          warmup=3),
              "batch": timed(runner, [images] * args.repeats, [expected] * args.repeats,
                             warmup=1)}
    print(json.dumps(result))


# ----------------------------------------------------------------------------- machine

def cpu_info() -> dict:
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.processor()),
            "family": fields.get("cpu family", "?"), "model_id": fields.get("model", "?"),
            "mhz": float(fields.get("cpu MHz", "nan")), "cores": len(os.sched_getaffinity(0)),
            "simd": " ".join(f for f in ("sse4_1", "avx2", "avx512f") if f in flags)}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for package in ("numpy", "Cython", "torch", "snntorch", "spikingjelly", "norse"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def blas_info() -> str:
    import threadpoolctl
    info = threadpoolctl.threadpool_info()
    return ", ".join(sorted({f"{i['internal_api']} {i.get('version') or ''}".strip()
                             + (f" ({i['architecture']})" if i.get("architecture") else "")
                             for i in info}))


def int_add_peak() -> dict | None:
    """Build and run ``int_add_peak.c``: measured clock and int32 add throughput."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "int_add_peak"
        subprocess.run([compiler, "-O2", "-mavx2", "-fopenmp",
                        str(Path(__file__).with_name("int_add_peak.c")), "-o", str(exe)],
                       check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


#: Documented AVX2 peak: four 256-bit vector integer ALU pipes (AMD Zen 3/4), 8 int32 lanes.
DOCUMENTED_ADDS_PER_CYCLE = 32


# ----------------------------------------------------------------------------- driver

def run_worker(runner: str, tmp: Path, name: str, threads: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", runner, "--dir", str(tmp), "--net", name,
           "--T", str(args.T), "--single", str(args.single), "--repeats", str(args.repeats),
           "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"ABORT: {runner} on {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(result: dict, key: str, sops_per_image: float, images_per_call: int) -> dict:
    part = result[key]
    median = float(np.median(part["seconds"]))
    ips = images_per_call / median
    return {"runner": result["runner"], "ms": median * 1e3, "best_ms": min(part["seconds"]) * 1e3,
            "ips": ips,
            "gsops": ips * sops_per_image / 1e9, "peak_mib": part["peak_mib"],
            "work_mib": part["work_mib"]}


def table(rows: list[dict]) -> list[str]:
    fastest = max(r["ips"] for r in rows)
    lines = ["| evaluator | median ms / call | best ms | images/s | GSOP/s | speed / fastest "
             "| peak RSS MiB | +MiB in calls |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["ips"]):
        lines.append(f"| {r['runner']} | {r['ms']:.3f} | {r['best_ms']:.3f} | {r['ips']:,.0f} | "
                     f"{r['gsops']:.3f} | "
                     f"{r['ips'] / fastest:.3f} | {r['peak_mib']:.0f} | {r['work_mib']:.1f} |")
    return lines


def thread_label(threads: int) -> str:
    return f"{threads} thread" + ("s" if threads > 1 else "")


def speedups(rows: list[dict]) -> tuple[dict, float, float] | None:
    """The fastest peer's row and twinspike's speed over it by median and by best call."""
    peers = [r for r in rows if r["runner"] != "twinspike"]
    if not peers:
        return None
    ts = next(r for r in rows if r["runner"] == "twinspike")
    best_peer = max(peers, key=lambda r: r["ips"])
    by_best = min(r["best_ms"] for r in peers) / ts["best_ms"]
    return best_peer, ts["ips"] / best_peer["ips"], by_best


def network_rows(args, stats: dict, results: list[dict], key: str) -> list[dict]:
    single = key == "b1"
    return [summarise(r, key, stats["sops_b1" if single else "sops"], 1 if single else args.batch)
            for r in results]


def report(args, nets, stats, results, skipped, peak, load) -> str:
    cpu, vers = cpu_info(), versions()
    batches = (("b1", "batch 1"), ("batch", f"batch {args.batch}"))
    command = " ".join(["python benchmarks/bench_eval.py", *args.argv])
    out = ["# Software benchmark: the Cython batch evaluator against SNN libraries", "",
           f"Command: `{command}` ({time.strftime('%Y-%m-%d')}).", "",
           f"Machine: {cpu['model']} (family {cpu['family']} model {cpu['model_id']}), "
           f"{cpu['cores']} cores, {cpu['mhz']:.0f} MHz nominal, SIMD {cpu['simd']}; "
           f"Linux {platform.release()}. Load average (1 min) {load[0]:.1f} before and "
           f"{load[1]:.1f} after the timings: other processes shared these cores. Compare "
           "within a table, and mind that a multi-threaded evaluator that synchronises its "
           "threads often (a torch op each) loses most when its threads are descheduled; the "
           "1-thread tables are the steadier comparison.",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
           f"BLAS/OpenMP: {blas_info()}.", "",
           "Threads: " + " and ".join(map(str, args.threads)) + ", the same for every evaluator "
           "in a table (twinspike's OpenMP prange over the batch, never more threads than "
           "images; `torch.set_num_threads`; BLAS via threadpoolctl). "
           f"T = {args.T}, direct encoding. Each evaluator runs in its own process; batch 1 is "
           f"the median of {args.single} single-image calls (3 warm-up calls first), batch "
           f"{args.batch} the median of {args.repeats} calls (1 warm-up); the best call is shown "
           "beside it. GSOP/s counts the synaptic operations twinspike's contract performs (one "
           "saturating add per touched target per input event, the direct input's events "
           "re-sent every step) for the same images, whatever the evaluator computes. Peak RSS "
           "is the process's VmHWM over the timed calls (reset before them); +MiB is that peak "
           "above the RSS before the calls (the working memory of a call).", "",
           "Exactness: every timed call of every peer returned output spike counts equal to "
           "twinspike's (the run aborts otherwise), after numpy proved that no membrane "
           "saturates on these inputs. How each library reproduces the integer IF semantics "
           "is in `benchmarks/snn_peers.py`: SpikingJelly's `IFNode(v_reset=None)` is the "
           "contract as is; snnTorch's `Leaky(beta=1, reset_mechanism=\"subtract\")` and Norse's "
           "`threshold`/`reset_subtract` fire on `v > theta`, so their membranes carry a +0.5 "
           "offset; Norse has no IF neuron with reset by subtraction, so its functional "
           "primitives are composed. All peers compute each layer's current for all T steps "
           "in one matrix product and the constant direct-input current once; twinspike sums "
           "that current once per image too (exactly: only while no partial sum can "
           "saturate), and adds a dense layer's spike events four weight rows at a time "
           "without per-add clamps while no membrane can reach its bounds; it still visits "
           "only the events, one image at a time.", ""]
    if skipped:
        out += ["Not run: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + ".", ""]
    out += ["## Summary: twinspike's speed over the fastest peer", "",
            "| network | threads | " + " | ".join(label for _, label in batches) + " |",
            "|---|---:|" + "---:|" * len(batches)]
    for name in nets:
        for threads in args.threads:
            cells = []
            for key, _ in batches:
                found = speedups(network_rows(args, stats[name], results[name][threads], key))
                cells.append("-" if found is None else
                             f"{found[1]:.2f}x ({found[0]['runner']}); best call {found[2]:.2f}x")
            out.append(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    out.append("")
    for name, (net, _) in nets.items():
        st = stats[name]
        out += [f"## {name}", "", f"{NETWORKS[name]}; weights: {net.metadata['weights']}; "
                f"{st['synapses']:,} synapses; {st['sops']:,.0f} SOPs per image on average "
                f"(T = {args.T}); output spikes per image {st['out_spikes']:.1f}.", ""]
        for threads in args.threads:
            out += [f"### {thread_label(threads)}", ""]
            for key, label in batches:
                rows = network_rows(args, st, results[name][threads], key)
                found = speedups(rows)
                out += [f"**{label}**" + ("" if found is None else
                                          f" — twinspike is {found[1]:.2f}x the fastest peer "
                                          f"({found[0]['runner']}) by median, {found[2]:.2f}x "
                                          "by best call"), "", *table(rows), ""]
    out += ["## Integer-add peak of this CPU", ""]
    if peak is None:
        out += ["Not measured (--no-peak, or no C compiler).", ""]
    else:
        best = max(r["gsops"] for name in results for runs in results[name].values()
                   for r in network_rows(args, stats[name], runs, "batch")
                   if r["runner"] == "twinspike")
        documented = DOCUMENTED_ADDS_PER_CYCLE * peak["clock_ghz"] * cpu["cores"]
        measured = peak["adds_per_s_all"] / 1e9
        out += [f"`benchmarks/int_add_peak.c` (cc -O2 -mavx2 -fopenmp, best of 15 short runs "
                f"each): clock {peak['clock_ghz']:.2f} GHz (dependent scalar adds, one per "
                f"cycle); AVX2 32-bit adds {peak['adds_per_s_1'] / 1e9:.1f} G/s on 1 thread "
                f"({peak['adds_per_cycle_1']:.1f} per cycle), {measured:.1f} G/s on "
                f"{peak['threads']} threads. Documented estimate: "
                f"{DOCUMENTED_ADDS_PER_CYCLE} adds per cycle per core (four 256-bit integer ALU "
                f"pipes x 8 lanes) x {peak['clock_ghz']:.2f} GHz x {cpu['cores']} cores = "
                f"{documented:.0f} G/s.", "",
                f"twinspike's best batch-{args.batch} GSOP/s above ({best:.2f}) is "
                f"{100 * best / measured:.1f} % of the measured {peak['threads']}-thread peak and "
                f"{100 * best / documented:.1f} % of the documented one. A SOP is more than an "
                "add (load the weight, multiply by the event value, add, clamp to the membrane "
                "range, store; and the event bookkeeping around it), so this bounds how close "
                "a SIMD kernel can come; it is not a target. (Where the direct-input current is "
                "summed once, the SOPs counted exceed the adds performed.)", ""]
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=8)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--single", type=int, default=32, help="timed batch-1 calls")
    parser.add_argument("--repeats", type=int, default=5, help="timed full-batch calls")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1],
                        help="thread counts to run every evaluator with (one table each)")
    parser.add_argument("--nets", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--peers", nargs="+", default=list(snn_peers.PEERS),
                        choices=list(snn_peers.PEERS))
    parser.add_argument("--quick", action="store_true",
                        help="fewer calls (8 single, 2 batch): a smoke run")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "benchmarks",
                        help="where the quickly trained digits networks are kept")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-peak", action="store_true",
                        help="skip the integer-add peak measurement")
    parser.add_argument("--worker", choices=RUNNERS, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.single, args.repeats = 8, 2
    skipped = {p: why for p in args.peers if (why := snn_peers.peer_missing(p))}
    runners = ["twinspike", *(p for p in args.peers if p not in skipped)]
    nets = build_networks(args.T, args.batch, args.nets, args.cache)
    load_before = os.getloadavg()[0]
    stats, results = {}, {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, (net, images) in nets.items():
            snn_peers.check_no_saturation(net, images, args.T)
            spikes, sops = TwinspikeRunner(net, args.T).run(images)
            counts = spikes.sum(axis=1, dtype=np.int64)
            save(net, tmp / name)
            np.savez(tmp / f"{name}.inputs.npz", images=images, counts=counts)
            stats[name] = {"synapses": synapses(net), "sops": float(sops.mean()),
                           "sops_b1": float(sops[:args.single].mean()),
                           "out_spikes": float(counts.sum(axis=1).mean())}
            results[name] = {threads: [] for threads in args.threads}
            for threads in args.threads:
                for runner in runners:
                    print(f"timing {runner} on {name}, {threads} thread(s) ...",
                          file=sys.stderr, flush=True)
                    results[name][threads].append(run_worker(runner, tmp, name, threads, args))
    load = (load_before, os.getloadavg()[0])
    peak = None if args.no_peak else int_add_peak()
    text = report(args, nets, stats, results, skipped, peak, load)
    print(text)
    if not args.no_write:
        write_text(args.out, text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
