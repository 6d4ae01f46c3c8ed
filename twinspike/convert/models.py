"""Convertible DNNs: graphs whose every node becomes one IF population of the network model.

A :class:`ConvertibleNet` is a list of :class:`Node` in topological order (the last one is
the output). A node sums its :class:`Synapse` projections (conv, dense, 1x1 identity
shortcut, or sum-pool), adds a per-channel bias and applies its activation. The same graph
runs in four **stages**:

* ``fp32``: ``a = relu(z)`` (the output node's ``z`` are the logits); BN in each synapse;
  pool nodes average.
* ``qcfs``: ``a = qcfs(z, lam, L)`` with a trainable threshold ``lam`` per node; a pool node
  re-quantises its average with its source's ``lam``; logits ``= alpha * level / L``.
* ``quant`` (after :meth:`ConvertibleNet.fold_batchnorm`): the integer network itself. Each
  node has a membrane unit ``s`` (the DNN value of one membrane step): with ``g`` the DNN value
  of one unit of the source's per-step signal (``1/255`` for direct pixels, the quantised
  ``lam`` of a population), its weights are ``q = quantise(w * g, s)`` with ``s = max|w*g| /
  qmax`` over all its synapses, bias ``round(b / s)``, threshold ``theta = round(lam / s)``
  (so the quantised ``lam`` is ``theta * s``), ``v0 = theta // 2``. Per step the node's
  current is ``I = sum q * r_src + bias`` with ``r_src`` the pixel value or the source's
  ``level / L``, and its level over ``L`` steps is ``clip(floor((L*I + v0) / theta), 0, L)``:
  exactly the spike count of the IF population at ``T = L`` for a constant input. A pool node
  of kernel ``k`` has weights 1, ``theta = k*k``, no bias and ``s = g_src / k*k``.
* ``snn`` (after the quant stage): the same integer network run as the IF populations
  themselves for ``timesteps`` steps (direct input; :meth:`ConvertibleNet.snn_counts`, exact
  forward) and trained through time with a surrogate spike gradient; logits ``= alpha *
  count / T``.

Widths are multiplied by a ``width`` factor (channels ``round(base * width)``, at least 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from twinspike.network import INPUT, as_chw, conv_output_size

from .quant import (clip_floor, fold_batchnorm, qcfs, quantise_weight, round_ste, spike,
                    weight_scale)

SYNAPSE_KINDS = ("conv", "dense", "identity", "pool")
#: DNN value of one unit of the first layer's per-step input, by input encoding: a direct
#: event carries the pixel x (DNN input x/255); a rate spike has probability x/256.
INPUT_UNITS = {"direct": 1 / 255, "rate": 256 / 255}
#: Logit scale of the output level or count in the qcfs, quant and snn stages (the inverse
#: softmax temperature of the training loss).
OUTPUT_ALPHA = 10.0


class Synapse(nn.Module):
    """A bias-free projection from ``source`` into a node: ``conv`` (``kernel``, ``stride``,
    ``padding``), ``dense`` (over the flattened source), ``identity`` (a fixed 1x1 conv with
    identity weights: the residual shortcut) or ``pool`` (sum-pool ``kernel x kernel``,
    stride ``kernel``); conv and dense may carry a batch-norm."""

    def __init__(self, source: str, kind: str, c_in: int, c_out: int, kernel: int = 1,
                 stride: int = 1, padding: int = 0, batchnorm: bool = False):
        super().__init__()
        if kind not in SYNAPSE_KINDS:
            raise ValueError(f"Synapse.kind={kind!r}: expected one of {', '.join(SYNAPSE_KINDS)}")
        self.source, self.kind = source, kind
        self.kernel, self.stride, self.padding = kernel, stride, padding
        if kind == "pool":
            self.stride = kernel
            self.weight = None
        elif kind == "identity":
            self.register_buffer("weight", torch.eye(c_out).reshape(c_out, c_out, 1, 1))
        else:
            shape = (c_out, c_in, kernel, kernel) if kind == "conv" else (c_out, c_in)
            self.weight = nn.Parameter(torch.empty(shape))
            nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.bn = None
        if batchnorm and kind in ("conv", "dense"):
            self.bn = (nn.BatchNorm2d if kind == "conv" else nn.BatchNorm1d)(c_out)

    def project(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The linear map with ``weight`` (default: this synapse's); pool sums."""
        weight = self.weight if weight is None else weight
        if self.kind == "pool":
            return F.avg_pool2d(x, self.kernel) * self.kernel ** 2
        if self.kind == "dense":
            return F.linear(x.flatten(1), weight)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding)

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(x)
        return y if self.bn is None else self.bn(y)

    def fold_batchnorm(self) -> Tensor:
        """Fold the batch-norm into the weight; returns the bias it leaves (zeros if none)."""
        if self.bn is None:
            return torch.zeros(())
        weight, bias = fold_batchnorm(self.weight, self.bn)
        self.weight.data.copy_(weight)
        self.bn = None
        return bias


class Node(nn.Module):
    """One future population: the sum of ``synapses``, a per-channel ``bias`` and a QCFS
    threshold ``lam`` (a pool node has a single pool synapse and neither)."""

    def __init__(self, name: str, synapses: list[Synapse], shape: tuple[int, ...],
                 output: bool = False):
        super().__init__()
        self.name, self.shape, self.output = name, tuple(shape), output
        self.synapses = nn.ModuleList(synapses)
        self.is_pool = synapses[0].kind == "pool"
        if self.is_pool:
            if len(synapses) != 1 or output:
                raise ValueError(f"Node[{name}]: a pool node has one synapse and is not the "
                                 "output")
            self.bias = self.lam = None
        else:
            self.bias = nn.Parameter(torch.zeros(shape[0]))
            self.lam = nn.Parameter(torch.ones(()))

    def channel_view(self, values: Tensor) -> Tensor:
        """Per-channel ``values`` shaped to broadcast over a batch of this node's outputs."""
        return values.reshape(1, -1, *([1] * (len(self.shape) - 1)))


@dataclass
class IntegerLayer:
    """A node's integer parameters in the quant stage (integer-valued tensors; gradients
    flow straight through the rounding): ``weights`` per synapse (``None`` for pool), the
    per-channel ``bias``, ``theta`` and the membrane unit ``scale``."""

    weights: list[Tensor | None]
    bias: Tensor
    theta: Tensor
    scale: Tensor

    @property
    def v0(self) -> Tensor:
        return torch.div(self.theta.detach(), 2, rounding_mode="floor")

    @property
    def unit(self) -> Tensor:
        """DNN value of one unit of this population's per-step output (one spike)."""
        return self.theta * self.scale


class ConvertibleNet(nn.Module):
    """A DNN in one of the stages of the module docstring over uint8 images ``input_shape``."""

    def __init__(self, name: str, input_shape: tuple[int, ...], nodes: list[Node],
                 levels: int = 8):
        super().__init__()
        if not nodes[-1].output or any(n.output for n in nodes[:-1]):
            raise ValueError(f"ConvertibleNet[{name}]: the last node, and only it, is the output")
        self.name, self.input_shape, self.levels = name, tuple(input_shape), levels
        self.nodes = nn.ModuleList(nodes)
        self.stage = "fp32"
        self.weight_bits: int | None = None
        self.timesteps: int | None = None

    # ------------------------------------------------------------------ stages
    def to_qcfs(self, x_calib: Tensor, quantile: float = 0.99) -> None:
        """Enter the qcfs stage, each ``lam`` set to the ``quantile`` of its node's positive
        fp32 pre-activations on ``x_calib``."""
        with torch.no_grad():
            pre = self.preactivations(x_calib)
            for node in self.nodes:
                if not node.is_pool:
                    positive = pre[node.name][pre[node.name] > 0]
                    node.lam.fill_(torch.quantile(positive[:1 << 20], quantile).item()
                                   if positive.numel() else 1.0)
        self.stage = "qcfs"

    def fold_batchnorm(self) -> None:
        """Fold every synapse's batch-norm into its weights and its node's bias."""
        with torch.no_grad():
            for node in self.nodes:
                for syn in node.synapses:
                    bias = syn.fold_batchnorm()
                    if node.bias is not None:
                        node.bias.add_(bias)

    def to_quant(self, weight_bits: int) -> None:
        """Enter the quant stage with ``weight_bits`` signed weights (folds BN first)."""
        if self.stage == "fp32":
            raise ValueError("ConvertibleNet.to_quant: train the qcfs stage first")
        self.fold_batchnorm()
        self.stage, self.weight_bits = "quant", weight_bits

    def to_snn(self, timesteps: int) -> None:
        """Enter the snn stage (train the SNN of ``timesteps`` steps itself)."""
        if self.stage != "quant":
            raise ValueError("ConvertibleNet.to_snn: enter the quant stage first")
        self.stage, self.timesteps = "snn", timesteps

    # ------------------------------------------------------------------ forward passes
    def forward(self, x: Tensor) -> Tensor:
        """Logits of a batch of images (pixel values 0..255, any dtype)."""
        if self.stage == "quant":
            return OUTPUT_ALPHA * self.quant_levels(x)[self.nodes[-1].name] / self.levels
        if self.stage == "snn":
            counts = self.snn_counts(x, self.timesteps)
            return OUTPUT_ALPHA * counts[self.nodes[-1].name] / self.timesteps
        return self._float_forward(x.float() / 255)

    def _float_forward(self, x: Tensor, record: dict | None = None) -> Tensor:
        acts, lams = {INPUT: x}, {}
        for node in self.nodes:
            if node.is_pool:
                src = node.synapses[0].source
                z = node.synapses[0](acts[src]) / node.synapses[0].kernel ** 2
                lams[node.name] = lams.get(src)
            else:
                z = sum(syn(acts[syn.source]) for syn in node.synapses)
                z = z + node.channel_view(node.bias)
                lams[node.name] = node.lam
            if record is not None:
                record[node.name] = z
            if node.output:
                if self.stage == "fp32":
                    return z
                level = clip_floor(z * self.levels / node.lam + 0.5, self.levels,
                                   straight_clip=True)
                return OUTPUT_ALPHA * level / self.levels
            if self.stage == "fp32":
                acts[node.name] = torch.relu(z)
            else:
                acts[node.name] = qcfs(z, lams[node.name], self.levels)
        raise AssertionError("unreachable: the last node is the output")

    def preactivations(self, x: Tensor) -> dict[str, Tensor]:
        """Every node's pre-activation ``z`` in the current float stage."""
        record: dict[str, Tensor] = {}
        self._float_forward(x.float() / 255, record)
        return record

    def integer_layers(self, encoding: str = "direct") -> dict[str, IntegerLayer]:
        """The quant stage's integer parameters of every node for an input ``encoding``."""
        units = {INPUT: torch.tensor(INPUT_UNITS[encoding])}
        layers = {}
        for node in self.nodes:
            layer = self._integer_layer(node, units)
            layers[node.name] = layer
            units[node.name] = layer.unit
        return layers

    def _integer_layer(self, node: Node, units: dict[str, Tensor]) -> IntegerLayer:
        if self.weight_bits is None:
            raise ValueError(f"ConvertibleNet[{self.name}]: integer parameters exist from the "
                             f"quant stage on (now {self.stage!r})")
        if node.is_pool:
            syn = node.synapses[0]
            area = syn.kernel ** 2
            return IntegerLayer([None], torch.zeros(node.shape[0]), torch.tensor(float(area)),
                                units[syn.source] / area)
        effective = [syn.weight * units[syn.source] for syn in node.synapses]
        scale = weight_scale(effective, self.weight_bits)
        return IntegerLayer([quantise_weight(w, scale, self.weight_bits) for w in effective],
                            round_ste(node.bias / scale), round_ste(node.lam / scale).clamp_min(1),
                            scale)

    def quant_levels(self, x: Tensor, encoding: str = "direct",
                     currents: dict | None = None) -> dict[str, Tensor]:
        """Quant stage: every node's level (``0..L``, the spike count at ``T = L`` for a
        constant current) for images ``x`` (pixel values); ``currents`` (if given) receives
        every node's mean per-step current ``I``."""
        signals, units = {INPUT: x.float()}, {INPUT: torch.tensor(INPUT_UNITS[encoding])}
        if encoding == "rate":
            signals[INPUT] = signals[INPUT] / 256
        levels = {}
        for node in self.nodes:
            layer = self._integer_layer(node, units)
            current = sum(syn.project(signals[syn.source], w)
                          for syn, w in zip(node.synapses, layer.weights))
            current = current + node.channel_view(layer.bias)
            if currents is not None:
                currents[node.name] = current
            level = clip_floor((current * self.levels + layer.v0) / layer.theta, self.levels,
                               straight_clip=node.output)
            levels[node.name] = level
            signals[node.name] = level / self.levels
            units[node.name] = layer.unit
        return levels

    def snn_counts(self, x: Tensor, timesteps: int) -> dict[str, Tensor]:
        """Quant or snn stage, direct input: every population's spike count after
        ``timesteps`` steps of the IF dynamics of ``docs/semantics.md`` (exact integer values
        in float64, no saturation), differentiable through time with :func:`spike`'s
        surrogate gradient; the output count's gradient is instead that of its total current
        over ``theta`` (straight through, so an output neuron that stopped firing still
        learns)."""
        trains = {INPUT: x.float().unsqueeze(0)}
        units = {INPUT: torch.tensor(INPUT_UNITS["direct"])}
        counts = {}
        for node in self.nodes:
            layer = self._integer_layer(node, units)
            current = sum(_project_train(syn, trains[syn.source], w)
                          for syn, w in zip(node.synapses, layer.weights))
            current = current + node.channel_view(layer.bias)
            current = current.double().expand(timesteps, *current.shape[1:])
            theta = layer.theta.double()
            v = torch.full_like(current[0], float(layer.v0))
            spikes = []
            for step in current:
                v = v + step
                fired = spike(v - theta, theta.detach())
                v = v - theta * fired
                spikes.append(fired)
            train = torch.stack(spikes).float()
            count = train.sum(0)
            if node.output:
                rate = (current.sum(0) / theta).float()
                count = count + (rate - rate.detach())
            counts[node.name] = count
            trains[node.name] = train
            units[node.name] = layer.unit
        return counts


def _project_train(syn: Synapse, train: Tensor, weight: Tensor | None) -> Tensor:
    """``syn.project`` of every step of a spike train ``[T, B, ...]``."""
    flat = syn.project(train.reshape(-1, *train.shape[2:]), weight)
    return flat.reshape(train.shape[0], -1, *flat.shape[1:])


# ---------------------------------------------------------------------- builders

class GraphBuilder:
    """Builds a :class:`ConvertibleNet` node by node, tracking shapes: each method adds a node
    fed by ``source`` (default: the last node added) with ``round(base * width)`` channels and
    returns its name."""

    def __init__(self, input_shape: tuple[int, ...], width: float):
        self.shapes = {INPUT: tuple(input_shape)}
        self.nodes: list[Node] = []
        self.width = width
        self.last = INPUT

    def channels(self, base: int) -> int:
        return max(1, round(base * self.width))

    def _add(self, name: str, synapses: list[Synapse], shape, output: bool = False) -> str:
        self.nodes.append(Node(name, synapses, shape, output))
        self.shapes[name] = tuple(shape)
        self.last = name
        return name

    def conv(self, name: str, base: int, kernel: int = 3, stride: int = 1,
             source: str | None = None) -> str:
        source = source or self.last
        c_in, h, w = as_chw(self.shapes[source])
        c_out, pad = self.channels(base), kernel // 2
        shape = (c_out, conv_output_size(h, kernel, stride, pad),
                 conv_output_size(w, kernel, stride, pad))
        return self._add(name, [Synapse(source, "conv", c_in, c_out, kernel, stride, pad,
                                        batchnorm=True)], shape)

    def pool(self, name: str, kernel: int = 2) -> str:
        c, h, w = self.shapes[self.last]
        return self._add(name, [Synapse(self.last, "pool", c, c, kernel)],
                         (c, h // kernel, w // kernel))

    def dense(self, name: str, n_out: int, output: bool = False) -> str:
        n_in = math.prod(self.shapes[self.last])
        return self._add(name, [Synapse(self.last, "dense", n_in, n_out,
                                        batchnorm=not output)], (n_out,), output)

    def basic_block(self, name: str, base: int, stride: int) -> str:
        """ResNet basic block: conv-BN-act, conv-BN plus the shortcut (identity, or 1x1 conv +
        BN when the shape changes), then the activation of the sum."""
        source = self.last
        mid = self.conv(f"{name}a", base, stride=stride, source=source)
        c_in, c_out = self.shapes[source][0], self.channels(base)
        main = Synapse(mid, "conv", c_out, c_out, 3, 1, 1, batchnorm=True)
        if stride == 1 and c_in == c_out:
            shortcut = Synapse(source, "identity", c_in, c_out)
        else:
            shortcut = Synapse(source, "conv", c_in, c_out, 1, stride, 0, batchnorm=True)
        return self._add(f"{name}b", [main, shortcut], self.shapes[mid])

    def build(self, name: str, levels: int) -> ConvertibleNet:
        return ConvertibleNet(name, self.shapes[INPUT], self.nodes, levels)


N_CLASSES = 10


def mlp(input_shape=(1, 8, 8), width: float = 1.0, levels: int = 8) -> ConvertibleNet:
    """Two hidden layers of 256 * width neurons."""
    b = GraphBuilder(input_shape, width)
    b.dense("fc1", b.channels(256))
    b.dense("fc2", b.channels(256))
    b.dense("out", N_CLASSES, output=True)
    return b.build("mlp", levels)


def cnn(input_shape=(1, 8, 8), width: float = 1.0, levels: int = 8) -> ConvertibleNet:
    """conv32-conv64-pool-conv128-pool-dense (3x3 convs, padding 1, 2x2 sum-pools)."""
    b = GraphBuilder(input_shape, width)
    b.conv("conv1", 32)
    b.conv("conv2", 64)
    b.pool("pool1")
    b.conv("conv3", 128)
    b.pool("pool2")
    b.dense("out", N_CLASSES, output=True)
    return b.build("cnn", levels)


#: VGG-11's eight 3x3 convs; on 8x8 inputs only three 2x2 pools fit (after convs 2, 4, 6).
VGG11_LAYERS = (64, 128, "pool", 256, 256, "pool", 512, 512, "pool", 512, 512)


def vgg11(input_shape=(1, 8, 8), width: float = 0.25, levels: int = 8) -> ConvertibleNet:
    """VGG-11 (CIFAR style, BN after every conv, one classifier layer)."""
    b = GraphBuilder(input_shape, width)
    convs = pools = 0
    for layer in VGG11_LAYERS:
        if layer == "pool":
            pools += 1
            b.pool(f"pool{pools}")
        else:
            convs += 1
            b.conv(f"conv{convs}", layer)
    b.dense("out", N_CLASSES, output=True)
    return b.build("vgg11", levels)


def resnet18(input_shape=(1, 8, 8), width: float = 0.25, levels: int = 8) -> ConvertibleNet:
    """ResNet-18 (CIFAR style): 3x3 stem, basic blocks [2, 2, 2, 2] of 64/128/256/512 * width
    channels with strides 1/2/2/2 (8x8 -> 1x1), dense classifier."""
    b = GraphBuilder(input_shape, width)
    b.conv("stem", 64)
    for stage, (base, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
        b.basic_block(f"s{stage}b1", base, stride)
        b.basic_block(f"s{stage}b2", base, 1)
    b.dense("out", N_CLASSES, output=True)
    return b.build("resnet18", levels)


MODELS = {"mlp": mlp, "cnn": cnn, "vgg11": vgg11, "resnet18": resnet18}
