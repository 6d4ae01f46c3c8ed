"""The benchmark's correctness check: every installed peer (benchmarks/snn_peers.py) computes the
same output spike counts as twinspike's Cython evaluator. The peers are an optional extra
(benchmarks/install_peers.sh), so a missing one is skipped with the reason."""
import sys
from pathlib import Path

import numpy as np
import pytest

from twinspike.network import Network, Population, Projection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_eval  # noqa: E402
import snn_peers  # noqa: E402

T = 8


def tiny_network(seed: int) -> Network:
    """Every projection kind, small thresholds (so v == theta happens often), negative biases,
    one v0 >= theta and one negative v0."""
    rng = np.random.default_rng(seed)

    def weights(*shape):
        return rng.integers(-7, 8, shape)

    def bias(n, theta):
        return rng.integers(-theta // 2, theta // 2 + 1, n)

    pops = (
        Population("conv", (3, 5, 5), (Projection("conv", "input", weights(3, 2, 3, 3),
                                                  kernel=3, padding=1),), bias(75, 20), 20, 10),
        Population("pool", (3, 2, 2), (Projection("pool", "conv", kernel=2, stride=2),),
                   np.zeros(12, np.int64), 2, v0=3),
        Population("res", (3, 2, 2), (Projection("conv", "pool", weights(3, 3, 3, 3), kernel=3,
                                                 padding=1),
                                      Projection("identity", "pool")), bias(12, 4), 4, v0=-2),
        Population("strided", (2, 1, 1), (Projection("conv", "res", weights(2, 3, 3, 3),
                                                     kernel=3, stride=2, padding=1),),
                   bias(2, 3), 3, v0=1),
        Population("out", (4,), (Projection("dense", "res", weights(4, 12)),
                                 Projection("dense", "strided", weights(4, 2))), bias(4, 5), 5,
                   v0=2),
    )
    return Network((2, 5, 5), pops, input_bits=4, weight_bits=4, membrane_bits=16)


def images(seed: int, n: int = 16) -> np.ndarray:
    rng = np.random.default_rng(100 + seed)
    return (rng.integers(0, 16, (n, 2, 5, 5)) * (rng.random((n, 2, 5, 5)) < 0.6)).astype(np.uint8)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("peer", snn_peers.PEERS)
def test_peer_counts_equal_twinspike(peer, seed):
    missing = snn_peers.peer_missing(peer)
    if missing:
        pytest.skip(missing)
    net, x = tiny_network(seed), images(seed)
    status = bench_eval.check_peers(net, x, T, peers=(peer,))
    assert status == {peer: "ok"}
    counts = bench_eval.TwinspikeRunner(net, T).counts(x)
    assert counts.sum() > 0, "the tiny network must spike for the check to mean anything"


def test_mismatch_is_loud():
    with pytest.raises(bench_eval.Mismatch, match="image 1 output 2"):
        bench_eval.check_counts("peer", np.array([[0, 0, 0], [0, 0, 1]]),
                                np.array([[0, 0, 0], [0, 0, 2]]), "test")


def test_saturation_is_refused():
    """With 9-bit membranes the tiny network saturates: the float peers must not be trusted."""
    net = tiny_network(0)
    narrow = Network(net.input_shape, net.populations, input_bits=4, weight_bits=4,
                     membrane_bits=9)
    with pytest.raises(snn_peers.Saturation, match="would saturate"):
        snn_peers.check_no_saturation(narrow, images(0), T)


def test_peers_refuse_what_they_cannot_compute():
    net = tiny_network(0)
    leaky = Network(net.input_shape, net.populations[:1] + (
        Population("pool", (3, 2, 2), net.populations[1].projections, np.zeros(12, np.int64),
                   2, leak_shift=1),), input_bits=4, weight_bits=4, membrane_bits=16)
    with pytest.raises(ValueError, match="leak_shift 0"):
        snn_peers.numpy_counts(leaky, images(0), T)
    with pytest.raises(ValueError, match="peer='brian2'"):
        snn_peers.make_peer("brian2", net, T)


def test_benchmark_report_smoke(tmp_path):
    """The whole driver on the large MLP, numpy only, 4 images: a report with both tables."""
    out = tmp_path / "bench.md"
    bench_eval.main(["--nets", "large-mlp", "--peers", "numpy", "--batch", "4", "--single",
                     "2", "--repeats", "1", "--threads", "1", "--no-peak", "--out", str(out)])
    text = out.read_text()
    assert "## large-mlp" in text and "### 1 thread" in text
    assert "**batch 1**" in text and "**batch 4**" in text and "| large-mlp | 1 |" in text
    assert "| twinspike |" in text and "| numpy |" in text
