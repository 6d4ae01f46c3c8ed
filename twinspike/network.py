"""Network files: :func:`save` and :func:`load` of a :class:`Network` (the model itself, its
types and limits live in ``twinspike.sw.network_model``, re-exported here as the application's
public face: ``from twinspike.network import Network, load, save``).

:func:`save` writes ``PATH.npz`` (arrays ``p{i}.bias`` int32 and ``p{i}.w{j}`` int8, ``i`` the
population and ``j`` the projection index) and ``PATH.json`` (``{"format":
"twinspike-network", "version": 1, ...}`` with everything else); :func:`load` checks every
key, type, dtype and shape and raises ``ValueError`` naming the file and the field.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from twinspike.atomic import atomic_write
from twinspike.sw.network_model import (ENCODINGS, INPUT, KINDS, MAX_INPUT_BITS, ArrayEq, Network,
                                        Population, Projection, as_chw, check_shape,
                                        conv_output_size)

__all__ = ["FORMAT", "VERSION", "INPUT", "KINDS", "ENCODINGS", "MAX_INPUT_BITS", "ArrayEq",
           "Projection", "Population", "Network", "as_chw", "conv_output_size", "save", "load",
           "network_files"]

FORMAT = "twinspike-network"
VERSION = 1


# ----------------------------------------------------------------------------- files

def network_files(path) -> tuple[Path, Path]:
    """``(PATH.npz, PATH.json)`` of a network path given with either suffix or none."""
    base = Path(path)
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def _array_key(pop_index: int, proj_index: int | None) -> str:
    return f"p{pop_index}.bias" if proj_index is None else f"p{pop_index}.w{proj_index}"


def save(net: Network, path) -> tuple[Path, Path]:
    """Write ``PATH.npz`` and ``PATH.json`` (each atomically); returns both paths."""
    if not isinstance(net, Network):
        raise ValueError(f"save expects a Network, got {type(net).__name__}")
    npz_path, json_path = network_files(path)
    arrays, pops = {}, []
    for i, pop in enumerate(net.populations):
        arrays[_array_key(i, None)] = pop.bias.astype(np.int32)
        projections = []
        for j, proj in enumerate(pop.projections):
            if proj.weight is not None:
                arrays[_array_key(i, j)] = proj.weight.astype(np.int8)
            projections.append({"kind": proj.kind, "source": proj.source, "kernel": proj.kernel,
                                "stride": proj.stride, "padding": proj.padding})
        pops.append({"name": pop.name, "shape": list(pop.shape), "theta": int(pop.theta),
                     "v0": int(pop.v0), "leak_shift": int(pop.leak_shift),
                     "projections": projections})
    doc = {"format": FORMAT, "version": VERSION, "input_shape": list(net.input_shape),
           "input_bits": net.input_bits, "encoding": net.encoding,
           "weight_bits": net.weight_bits, "membrane_bits": net.membrane_bits,
           "lfsr_width": net.lfsr_width, "seed": net.seed, "populations": pops,
           "metadata": net.metadata}
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    atomic_write(npz_path, lambda f: np.savez(f, **arrays))
    atomic_write(json_path, lambda f: f.write(text.encode()))
    return npz_path, json_path


class _Reader:
    """Typed access to one JSON object; errors name the file and the dotted field path."""

    def __init__(self, file: Path, obj, where: str):
        self.file, self.where = file, where
        if not isinstance(obj, dict):
            self.fail(where, f"expected an object, got {type(obj).__name__}")
        self.obj = obj

    def fail(self, where: str, message: str):
        raise ValueError(f"{self.file}: {where}: {message}")

    def only(self, keys: set[str]) -> None:
        extra = sorted(set(self.obj) - keys)
        if extra:
            self.fail(self.where, f"unexpected key(s) {', '.join(extra)}")

    def get(self, key: str, kind: type):
        where = f"{self.where}.{key}" if self.where else key
        if key not in self.obj:
            self.fail(where, "missing")
        value = self.obj[key]
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is list:
            ok = isinstance(value, list)
        else:
            ok = isinstance(value, kind)
        if not ok:
            self.fail(where, f"expected {kind.__name__}, got {json.dumps(value)[:60]}")
        return value

    def ints(self, key: str) -> tuple[int, ...]:
        values = self.get(key, list)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self.fail(f"{self.where}.{key}" if self.where else key,
                      f"expected a list of integers, got {json.dumps(values)[:60]}")
        return tuple(values)


_TOP_KEYS = {"format", "version", "input_shape", "input_bits", "encoding", "weight_bits",
             "membrane_bits", "lfsr_width", "seed", "populations", "metadata"}
_POP_KEYS = {"name", "shape", "theta", "v0", "leak_shift", "projections"}
_PROJ_KEYS = {"kind", "source", "kernel", "stride", "padding"}


def _load_array(npz, npz_path: Path, key: str, dtype, shape) -> np.ndarray:
    if key not in npz.files:
        raise ValueError(f"{npz_path}: array {key!r} is missing")
    try:
        arr = npz[key]
    except ValueError as exc:             # e.g. an object array, refused without pickle
        raise ValueError(f"{npz_path}: array {key!r}: {exc}") from None
    if arr.dtype != np.dtype(dtype):
        raise ValueError(f"{npz_path}: array {key!r} has dtype {arr.dtype}: expected "
                         f"{np.dtype(dtype)}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{npz_path}: array {key!r} has shape {arr.shape}: expected {shape}")
    return arr


class _ArrayReader:
    """The arrays of one .npz file, taken by key; :meth:`check_all_used` refuses extras."""

    def __init__(self, npz, path: Path):
        self.npz, self.path, self.used = npz, path, set()

    def take(self, key: str, dtype, shape=None) -> np.ndarray:
        self.used.add(key)
        return _load_array(self.npz, self.path, key, dtype, shape)

    def check_all_used(self) -> None:
        extra = sorted(set(self.npz.files) - self.used)
        if extra:
            raise ValueError(f"{self.path}: unexpected array(s) {', '.join(extra)}")


def _read_projection(r: _Reader, arrays: _ArrayReader, i: int, j: int) -> Projection:
    r.only(_PROJ_KEYS)
    kind = r.get("kind", str)
    if kind not in KINDS:
        r.fail(f"{r.where}.kind", f"unknown projection kind {kind!r}: expected one of "
                                  f"{', '.join(KINDS)}")
    weight = arrays.take(_array_key(i, j), np.int8) if kind in ("dense", "conv") else None
    return Projection(kind=kind, source=r.get("source", str), weight=weight,
                      kernel=r.get("kernel", int), stride=r.get("stride", int),
                      padding=r.get("padding", int))


def _read_population(r: _Reader, arrays: _ArrayReader, i: int) -> Population:
    r.only(_POP_KEYS)
    shape = check_shape(r.where, "shape", r.ints("shape"))
    projections = tuple(_read_projection(_Reader(r.file, raw, f"{r.where}.projections[{j}]"),
                                         arrays, i, j)
                        for j, raw in enumerate(r.get("projections", list)))
    return Population(name=r.get("name", str), shape=shape, projections=projections,
                      bias=arrays.take(_array_key(i, None), np.int32, (math.prod(shape),)),
                      theta=r.get("theta", int), v0=r.get("v0", int),
                      leak_shift=r.get("leak_shift", int))


def load(path) -> Network:
    """Read and validate ``PATH.npz`` + ``PATH.json`` (``PATH`` may carry either suffix)."""
    npz_path, json_path = network_files(path)
    for p in (json_path, npz_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such network file")
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{json_path}: not valid JSON: {exc}") from None
    top = _Reader(json_path, doc, "")
    if top.get("format", str) != FORMAT:
        top.fail("format", f"{doc['format']!r}: expected {FORMAT!r}")
    if top.get("version", int) != VERSION:
        top.fail("version", f"{doc['version']}: this reader knows version {VERSION}")
    top.only(_TOP_KEYS)
    try:
        npz = np.load(npz_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{npz_path}: not a readable .npz file: {exc}") from None
    try:
        with npz:
            arrays = _ArrayReader(npz, npz_path)
            pops = tuple(_read_population(_Reader(json_path, raw, f"populations[{i}]"), arrays, i)
                         for i, raw in enumerate(top.get("populations", list)))
            arrays.check_all_used()
        return Network(input_shape=top.ints("input_shape"), populations=pops,
                       input_bits=top.get("input_bits", int),
                       encoding=top.get("encoding", str), weight_bits=top.get("weight_bits", int),
                       membrane_bits=top.get("membrane_bits", int),
                       lfsr_width=top.get("lfsr_width", int), seed=top.get("seed", int),
                       metadata=top.get("metadata", dict))
    except ValueError as exc:
        if str(exc).startswith((f"{json_path}:", f"{npz_path}:")):
            raise
        raise ValueError(f"{json_path}: {exc}") from None
