"""``twinspike compile``: a network's memory images as files for simulators and Vivado.

For every memory with an image (``sw/layer_sequencer.py`` states the layouts; the words are
those ``hw/layer_sequencer.memory_words`` sends through the load port) the folder gets
``<memory>.mem`` (one hex word per line, ``$readmemh`` style; lane 0 in the low bits, two's
complement lanes) and ``<memory>.coe`` (Vivado's ``memory_initialization_radix=16`` format),
plus ``manifest.json``: the accelerator parameters, each memory's file names, word width,
words used and depth, the register values a host writes, and the SHA-256 of the network
files. :func:`read_images` parses the folder back into :class:`Images` (checking every size
and digit), so the files are proven to hold exactly the compiled arrays. Every file is
written atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from twinspike.atomic import write_text
from twinspike.hw.common import unpack_lanes
from twinspike.hw.layer_sequencer import IMAGE_MEMORIES, memory_words, word_bits
from twinspike.sw.layer_sequencer import (GEOMETRY_FIELD_BITS, AcceleratorParams, Images, MemoryUse,
                                          decode_table)

FORMAT = "twinspike-images"
VERSION = 1
#: The memories that have an image (the load port's select order).
IMAGES = tuple(IMAGE_MEMORIES)


def _mem_text(words: list[int], bits: int) -> str:
    digits = -(-bits // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _coe_text(words: list[int], bits: int) -> str:
    digits = -(-bits // 4)
    body = ",\n".join(f"{w:0{digits}x}" for w in words) or "0"
    return f"memory_initialization_radix=16;\nmemory_initialization_vector=\n{body};\n"


def network_digest(paths) -> str:
    """SHA-256 over the network's files (``.npz`` then ``.json``), as a hex string."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def registers(images: Images) -> dict[str, int]:
    """The control register values a host writes before a run (besides ``T``)."""
    header, _, _ = decode_table(images.table)
    return {"layer_count": header["n_populations"], "table_base": 0}


def write_images(images: Images, out_dir, network_files=()) -> Path:
    """Write the ``.mem``/``.coe`` files and ``manifest.json`` under ``out_dir``; returns the
    manifest's path."""
    out = Path(out_dir)
    p = images.params
    memories = {}
    use = {u.memory: u for u in images.use}
    all_words = memory_words(images)
    for memory in IMAGES:
        bits, words = word_bits(memory, p), all_words[memory]
        write_text(out / f"{memory}.mem", _mem_text(words, bits))
        write_text(out / f"{memory}.coe", _coe_text(words, bits))
        memories[memory] = {"mem": f"{memory}.mem", "coe": f"{memory}.coe", "word_bits": bits,
                            "words": len(words), "depth": use[memory].depth}
    manifest = {
        "format": FORMAT, "version": VERSION, "params": dataclasses.asdict(p),
        "memories": memories,
        "use": [dataclasses.asdict(u) for u in images.use],
        "registers": registers(images),
        "network": {"files": [Path(f).name for f in network_files],
                    "sha256": network_digest(network_files) if network_files else None},
    }
    return write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def _read_mem(path: Path, bits: int, count: int) -> list[int]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such memory image")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) != count:
        raise ValueError(f"{path}: {len(lines)} words, the manifest says {count}")
    words = []
    for n, line in enumerate(lines, 1):
        try:
            word = int(line, 16)
        except ValueError:
            raise ValueError(f"{path}:{n}: {line!r} is not a hex word") from None
        if word >> bits:
            raise ValueError(f"{path}:{n}: {line} is wider than {bits} bits")
        words.append(word)
    return words


def read_images(out_dir) -> Images:
    """Parse a ``twinspike compile`` folder back into :class:`Images` (``ValueError`` naming
    the file and line on anything malformed)."""
    out = Path(out_dir)
    path = out / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ValueError(f"{path}: format {doc.get('format')!r} version {doc.get('version')!r}"
                         f", expected {FORMAT!r} version {VERSION}")
    try:
        p = AcceleratorParams(**doc["params"])
        use = tuple(MemoryUse(**u) for u in doc["use"])
        sizes = {m: int(doc["memories"][m]["words"]) for m in IMAGES}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad params, use or memories field: {exc}") from None
    words = {m: _read_mem(out / f"{m}.mem", word_bits(m, p), sizes[m]) for m in IMAGES}
    lanes = lambda ws, n, bits, signed=True: np.array(  # noqa: E731
        [unpack_lanes(w, n, bits, signed) for w in ws], dtype=np.int64).reshape(-1, n)
    return Images(params=p, table=np.array(words["table"], dtype=np.uint32),
                  weights=lanes(words["weight"], p.lanes, p.weight_bits),
                  biases=lanes(words["bias"], p.lanes, p.membrane_bits),
                  geometry=lanes(words["geometry"], 3, GEOMETRY_FIELD_BITS, False), use=use)


def use_report(images: Images) -> str:
    """One line per memory: words used of the depth (the weight memory is the sum over
    every layer's weights, as one time-shared engine holds them all)."""
    lines = []
    for u in images.use:
        note = " (sum over layers)" if u.memory == "weight" else ""
        lines.append(f"{u.memory:>8} memory: {u.used:>9,} of {u.depth:>9,} words "
                     f"({100 * u.used / u.depth:5.1f} %){note}")
    return "\n".join(lines)
