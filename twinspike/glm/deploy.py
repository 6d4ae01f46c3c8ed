"""``twinspike compile`` of a GLM network file: the memory images of the GLM top
(``hw/glm_top.py``) as files, with the same writers as ``twinspike/compile.py``.

The folder gets ``weight.mem``/``.coe`` (word ``j * K + k``: bit ``i`` set iff
``w[i, j, k] = +1``) and ``bias.mem``/``.coe`` (``n_out`` words, two's complement in
``bias_bits``) -- exactly the words the host writes through the window
(``hw/glm_top.memory_words``) -- and ``manifest.json``: ``format`` ``twinspike-glm-images``,
the ``GlmNeuronParams`` the top must be generated with (its kernel table and sigmoid LUT are
elaboration-time constants), each memory's ``MEM_SELECT`` code, files, word width and words,
the register values (``T``, ``HW_PARAMS``), the input encoder and the network files' SHA-256.
:func:`read_network` parses the folder back into the :class:`~twinspike.glm.export.GlmNetwork`
it was compiled from (params, weights, biases, the encoder and ``T``: what the PYNQ driver
``twinspike/board.GlmAccelerator`` loads); :func:`read_images` into params, weights and biases.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from twinspike.atomic import write_text
from twinspike.compile import _coe_text, _mem_text, _read_mem, network_digest
from twinspike.glm.export import GlmNetwork, _fields, _params_doc
from twinspike.hw.glm_top import MEMORIES, hw_params_word, memory_words, word_bits
from twinspike.sw.glm_neuron import GlmNeuronParams
from twinspike.sw.rate_encoder import RateEncoderParams
from twinspike.sw.register_map import memory_code

FORMAT = "twinspike-glm-images"
VERSION = 1


def write_images(net: GlmNetwork, out_dir, network_files=()) -> Path:
    """Write the ``.mem``/``.coe`` files and ``manifest.json`` under ``out_dir``; returns the
    manifest's path."""
    out, p = Path(out_dir), net.params
    words = memory_words(p, net.weights, net.biases)
    memories = {}
    for m in MEMORIES:
        bits = word_bits(m, p)
        write_text(out / f"{m}.mem", _mem_text(words[m], bits))
        write_text(out / f"{m}.coe", _coe_text(words[m], bits))
        memories[m] = {"mem_select": memory_code(m), "mem": f"{m}.mem", "coe": f"{m}.coe",
                       "word_bits": bits, "words": len(words[m]), "depth": len(words[m])}
    manifest = {
        "format": FORMAT, "version": VERSION, "params": _params_doc(p), "memories": memories,
        "registers": {"T": net.steps, "HW_PARAMS": hw_params_word(p)},
        "encoder": None if net.encoder is None else dataclasses.asdict(net.encoder),
        "network": {"files": [Path(f).name for f in network_files],
                    "sha256": network_digest(network_files) if network_files else None},
    }
    return write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def read_network(out_dir) -> GlmNetwork:
    """Parse a GLM ``twinspike compile`` folder back into the network it holds: params,
    weights and biases from the images, the encoder and ``T`` (``steps``) from the manifest,
    ``metadata`` ``{"network": the manifest's network files and SHA-256}`` (``ValueError``
    naming the file on anything malformed)."""
    out = Path(out_dir)
    path = out / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT!r} version {VERSION} manifest")
    p = _fields(path, "params", doc.get("params"), GlmNeuronParams)
    try:
        sizes = {m: int(doc["memories"][m]["words"]) for m in MEMORIES}
        steps = doc["registers"]["T"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad memories or registers field: {exc}") from None
    expect = {"weight": p.n_in * p.n_kernels, "bias": p.n_out}
    for m in MEMORIES:
        if sizes[m] != expect[m]:
            raise ValueError(f"{path}: {m} has {sizes[m]} words, the params need {expect[m]}")
    words = {m: _read_mem(out / f"{m}.mem", word_bits(m, p), sizes[m]) for m in MEMORIES}
    w = np.array(words["weight"], dtype=np.int64).reshape(p.n_in, p.n_kernels)
    weights = np.where((w[np.newaxis] >> np.arange(p.n_out)[:, None, None]) & 1, 1, -1)
    b = np.array(words["bias"], dtype=np.int64)
    biases = np.where(b >> (p.bias_bits - 1), b - (1 << p.bias_bits), b)
    raw = doc.get("encoder")
    encoder = None if raw is None else _fields(path, "encoder", raw, RateEncoderParams)
    try:
        return GlmNetwork(p, weights, biases, encoder, steps, {"network": doc.get("network")})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def read_images(out_dir) -> tuple[GlmNeuronParams, np.ndarray, np.ndarray]:
    """Parse a GLM ``twinspike compile`` folder back into ``(params, weights, biases)``
    (:func:`read_network`)."""
    net = read_network(out_dir)
    return net.params, net.weights, net.biases
