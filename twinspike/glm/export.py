"""GLM network files: an exported GLM SNN (``glm_neuron`` unit parameters, binary weights,
integer biases, the rate encoder that makes its input spikes) saved without pickle.

:func:`save` writes ``PATH.npz`` (``weights`` int8 ``(n_out, n_in, K)`` in {-1, +1},
``biases`` int32 ``(n_out,)``) and ``PATH.json``::

    {"format": "twinspike-glm-network", "version": 1,
     "params": {every GlmNeuronParams field; kernel_table and sigmoid_lut as lists},
     "encoder": {RateEncoderParams fields} or null, "steps": T, "metadata": {...}}

:func:`load` reads the npz with ``allow_pickle=False``, accepts exactly these keys, rebuilds
``GlmNeuronParams`` / ``RateEncoderParams`` (their own validation), checks the arrays' dtypes,
shapes and ranges (``sw/glm_neuron.check_weights`` / ``check_biases``) and raises
``ValueError`` naming the file and the field. :func:`is_glm_network` tells a GLM network
file from an IF network file (``twinspike/network.py``) by the JSON's ``format``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twinspike.atomic import atomic_write
from twinspike.network import network_files
from twinspike.sw.glm_neuron import GlmNeuronParams, check_biases, check_weights
from twinspike.sw.rate_encoder import RateEncoderParams

__all__ = ["FORMAT", "VERSION", "GlmNetwork", "save", "load", "is_glm_network"]

FORMAT = "twinspike-glm-network"
VERSION = 1
_TOP_KEYS = {"format", "version", "params", "encoder", "steps", "metadata"}
_ROMS = ("kernel_table", "sigmoid_lut")


@dataclass(frozen=True, eq=False)
class GlmNetwork:
    """An exported GLM network as the unit runs it, with the encoder of its inputs."""

    params: GlmNeuronParams
    weights: np.ndarray                      # (n_out, n_in, K) int64 in {-1, +1}
    biases: np.ndarray                       # (n_out,) int64
    encoder: RateEncoderParams | None = None
    steps: int = 1                           # T the network was evaluated at (<= max_steps)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.params
        if not isinstance(p, GlmNeuronParams):
            raise ValueError(f"GlmNetwork.params must be GlmNeuronParams, got {type(p).__name__}")
        object.__setattr__(self, "weights", check_weights(p, self.weights, "GlmNetwork"))
        object.__setattr__(self, "biases", check_biases(p, self.biases, "GlmNetwork"))
        if self.encoder is not None:
            if not isinstance(self.encoder, RateEncoderParams):
                raise ValueError("GlmNetwork.encoder must be RateEncoderParams or None")
            if self.encoder.n_inputs != p.n_in:
                raise ValueError(f"GlmNetwork.encoder.n_inputs={self.encoder.n_inputs} differs "
                                 f"from params.n_in={p.n_in}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) \
                or not 1 <= self.steps <= p.max_steps:
            raise ValueError(f"GlmNetwork.steps={self.steps!r} is out of range: expected "
                             f"1..{p.max_steps} (params.max_steps)")
        if not isinstance(self.metadata, dict):
            raise ValueError("GlmNetwork.metadata must be a dict")


def _params_doc(p: GlmNeuronParams) -> dict:
    doc = dataclasses.asdict(p)
    for name in _ROMS:
        doc[name] = [int(v) for v in doc[name]]
    return doc


def save(net: GlmNetwork, path) -> tuple[Path, Path]:
    """Write ``PATH.npz`` and ``PATH.json`` (each atomically); returns both paths."""
    if not isinstance(net, GlmNetwork):
        raise ValueError(f"save expects a GlmNetwork, got {type(net).__name__}")
    npz_path, json_path = network_files(path)
    doc = {"format": FORMAT, "version": VERSION, "params": _params_doc(net.params),
           "encoder": dataclasses.asdict(net.encoder) if net.encoder is not None else None,
           "steps": net.steps, "metadata": net.metadata}
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    arrays = {"weights": net.weights.astype(np.int8), "biases": net.biases.astype(np.int32)}
    atomic_write(npz_path, lambda f: np.savez(f, **arrays))
    atomic_write(json_path, lambda f: f.write(text.encode()))
    return npz_path, json_path


def _read_json(json_path: Path) -> dict:
    if not json_path.is_file():
        raise FileNotFoundError(f"{json_path}: no such network file")
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{json_path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{json_path}: expected a JSON object")
    return doc


def is_glm_network(path) -> bool:
    """True when ``PATH.json`` says ``"format": "twinspike-glm-network"``."""
    json_path = network_files(path)[1]
    if not json_path.is_file():
        return False
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def _fields(json_path: Path, where: str, raw, cls):
    if not isinstance(raw, dict):
        raise ValueError(f"{json_path}: {where}: expected an object")
    names = {f.name for f in dataclasses.fields(cls)}
    extra, missing = set(raw) - names, names - set(raw)
    if extra or missing:
        raise ValueError(f"{json_path}: {where}: unknown keys {sorted(extra)}, missing keys "
                         f"{sorted(missing)}")
    for k, v in raw.items():
        ok = (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool)
                                          for x in v)) if k in _ROMS else \
            (isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            raise ValueError(f"{json_path}: {where}.{k}: expected "
                             f"{'a list of integers' if k in _ROMS else 'an integer'}, got {v!r}")
    values = {k: tuple(v) if k in _ROMS else v for k, v in raw.items()}
    try:
        return cls(**values)
    except ValueError as exc:
        raise ValueError(f"{json_path}: {where}: {exc}") from None


def _array(npz, npz_path: Path, key: str, dtype) -> np.ndarray:
    if key not in npz.files:
        raise ValueError(f"{npz_path}: missing array {key!r}")
    a = npz[key]
    if a.dtype != dtype:
        raise ValueError(f"{npz_path}: {key}: dtype {a.dtype}, expected {np.dtype(dtype)}")
    return a.astype(np.int64)


def load(path) -> GlmNetwork:
    """Read and validate ``PATH.npz`` + ``PATH.json`` (``PATH`` may carry either suffix)."""
    npz_path, json_path = network_files(path)
    doc = _read_json(json_path)
    if not npz_path.is_file():
        raise FileNotFoundError(f"{npz_path}: no such network file")
    if doc.get("format") != FORMAT:
        raise ValueError(f"{json_path}: format {doc.get('format')!r}: expected {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise ValueError(f"{json_path}: version {doc.get('version')!r}: this reader knows "
                         f"version {VERSION}")
    if set(doc) != _TOP_KEYS:
        raise ValueError(f"{json_path}: keys {sorted(doc)}, expected {sorted(_TOP_KEYS)}")
    params = _fields(json_path, "params", doc["params"], GlmNeuronParams)
    encoder = None if doc["encoder"] is None else _fields(json_path, "encoder", doc["encoder"],
                                                           RateEncoderParams)
    try:
        npz = np.load(npz_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{npz_path}: not a readable .npz file: {exc}") from None
    with npz:
        if set(npz.files) != {"weights", "biases"}:
            raise ValueError(f"{npz_path}: arrays {sorted(npz.files)}, expected "
                             f"['biases', 'weights']")
        weights = _array(npz, npz_path, "weights", np.int8)
        biases = _array(npz, npz_path, "biases", np.int32)
    try:
        return GlmNetwork(params, weights, biases, encoder, doc["steps"], doc["metadata"])
    except ValueError as exc:
        raise ValueError(f"{json_path}: {exc}") from None
