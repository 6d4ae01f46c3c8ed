"""Small integer networks the hardware tests share: an MLP and a CNN for the digits images
(8x8, pixels 0..255) with random weights and thresholds that keep every population spiking."""
import numpy as np

from twinspike.network import Network, Population, Projection


def dense_net(encoding: str) -> Network:
    """64 -> 20 -> 10 with random 5-bit weights; thresholds that make both layers spike at
    moderate rates (direct inputs carry pixels 0..255, rate inputs spikes)."""
    rng = np.random.default_rng(0)
    theta1 = 2000 if encoding == "direct" else 12
    return Network((1, 8, 8), (
        Population("hidden", (20,), (Projection("dense", "input", rng.integers(-8, 8, (20, 64))),),
                   rng.integers(-50, 50, 20) // (1 if encoding == "direct" else 25), theta1,
                   theta1 // 2),
        Population("out", (10,), (Projection("dense", "hidden", rng.integers(-20, 20, (10, 20))),),
                   np.zeros(10, np.int64), 40, 20)), encoding=encoding, weight_bits=6,
        membrane_bits=16)


def conv_net(encoding: str = "direct") -> Network:
    """conv 3x3 (4 ch) - sum-pool 2 - conv 3x3 plus a 1x1 conv bank (3 ch) - sum-pool 2 -
    dense 10: every conv-engine mapping (valued events, pool, two banks, shortcut widening)."""
    rng = np.random.default_rng(1)
    conv2 = (Projection("conv", "p1", rng.integers(-20, 20, (3, 4, 3, 3)), kernel=3, padding=1),
             Projection("conv", "p1", rng.integers(-5, 5, (3, 4, 1, 1))))
    return Network((1, 8, 8), (
        Population("c1", (4, 8, 8), (Projection("conv", "input", rng.integers(-8, 8, (4, 1, 3, 3)),
                                                kernel=3, padding=1),),
                   np.repeat(rng.integers(-3, 3, 4), 64), 20, 10),
        Population("p1", (4, 4, 4), (Projection("pool", "c1", kernel=2, stride=2),),
                   np.zeros(64, np.int64), 2, 1),
        Population("c2", (3, 4, 4), conv2, np.zeros(48, np.int64), 30, 15, leak_shift=3),
        Population("p2", (3, 2, 2), (Projection("pool", "c2", kernel=2, stride=2),),
                   np.zeros(12, np.int64), 2, 1),
        Population("out", (10,), (Projection("dense", "p2", rng.integers(-20, 20, (10, 12))),),
                   np.zeros(10, np.int64), 20, 10)), encoding=encoding, membrane_bits=16)


def accuracy_net(model: str = "resnet18", width: float = 0.5, weight_bits: int = 8) -> Network:
    """A model of `twinspike accuracy` (its builder, 8x8 inputs: ``resnet18``, ``vgg11``, ...)
    converted with calibrated but untrained weights: the same populations, projections and
    sizes as the trained one at ``width`` (the recipes' is 0.5), in seconds instead of
    minutes. Spikes reach the output (the hardware proofs need traffic, not accuracy)."""
    import torch

    from twinspike.convert.convert import membrane_bits, to_network
    from twinspike.convert.models import MODELS
    from twinspike.data import load_digits_split

    torch.manual_seed(0)
    x = torch.as_tensor(load_digits_split().x_train[:256])
    net = MODELS[model](tuple(x.shape[1:]), width=width)
    net.to_qcfs(x)
    net.to_quant(weight_bits)
    return to_network(net, "direct", membrane_bits(net, x, 8))


def resnet18_net(width: float = 0.5) -> Network:
    """:func:`accuracy_net` of the ResNet-18."""
    return accuracy_net("resnet18", width)
