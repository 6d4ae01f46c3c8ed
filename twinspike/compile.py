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

**DDR weights.** When the weights do not all fit the on-chip weight memory
(``weight_depth``), ``weight.mem``/``.coe`` hold the on-chip words and the rest -- the words
from address ``weight_depth`` on, ``hw/layer_sequencer.external_words`` -- go to
``weight_ddr.mem`` (16 hex digits per 64-bit word, lane 0 in the low bits, upper bits 0) and
``weight_ddr.bin`` (the same words, little-endian ``uint64``: what a driver copies into its
DDR buffer; word ``a`` is read at byte ``WEIGHT_ADDR + (a - weight_depth) * 8``). The
manifest's ``weight_ddr`` entry names them (words, bytes, the ``WEIGHT_ADDR`` register, the
line size the buffer's address must be a multiple of); it is ``null`` when everything is on
chip. Manifest version 2 (version 1, without that entry, is still read when it has no DDR
weights).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from twinspike.atomic import atomic_write, write_text
from twinspike.hw.common import unpack_lanes
from twinspike.hw.layer_sequencer import (IMAGE_MEMORIES, external_words, memory_words,
                                          word_bits)
from twinspike.sw.layer_sequencer import (DDR_BEAT_BITS, DDR_BEAT_BYTES, GEOMETRY_FIELD_BITS,
                                          AcceleratorParams, Images, MemoryUse, decode_table)

FORMAT = "twinspike-images"
VERSION = 2
#: Manifest versions :func:`read_images` reads (1: before DDR weights had files).
READ_VERSIONS = (1, 2)
#: The memories that have an image (the load port's select order).
IMAGES = tuple(IMAGE_MEMORIES)
#: The DDR weight image's files and its manifest entry.
DDR = "weight_ddr"
DDR_MEM, DDR_BIN = f"{DDR}.mem", f"{DDR}.bin"
#: The register that holds the DDR buffer's byte address.
DDR_REGISTER = "WEIGHT_ADDR"


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


def ddr_bytes(words: list[int]) -> bytes:
    """The DDR weight words as ``weight_ddr.bin`` holds them (little-endian ``uint64``)."""
    return np.asarray(words, dtype=np.uint64).astype("<u8").tobytes()


def ddr_entry(p: AcceleratorParams, n_words: int) -> dict | None:
    """The manifest's ``weight_ddr`` entry for ``n_words`` DDR weight words (None: none)."""
    if not n_words:
        return None
    line_bytes = p.line_words * DDR_BEAT_BYTES
    return {"mem": DDR_MEM, "bin": DDR_BIN, "words": n_words,
            "bytes": n_words * DDR_BEAT_BYTES, "word_bits": DDR_BEAT_BITS,
            "lanes": p.lanes, "lane_bits": p.weight_bits, "first_word": p.weight_depth,
            "target": "DDR", "register": DDR_REGISTER, "line_bytes": line_bytes,
            "placement": f"copy {DDR_BIN} into a physically contiguous DDR buffer whose byte "
                         f"address is a multiple of {line_bytes} (a page-aligned buffer is) and "
                         f"write that address to {DDR_REGISTER}; weight word a >= "
                         f"{p.weight_depth} is read at {DDR_REGISTER} + (a - {p.weight_depth})"
                         f" * {DDR_BEAT_BYTES}"}


def write_images(images: Images, out_dir, network_files=()) -> Path:
    """Write the ``.mem``/``.coe`` files, the DDR weight image (``weight_ddr.mem``/``.bin``,
    when there are DDR weights; stale ones are removed otherwise) and ``manifest.json`` under
    ``out_dir`` (the manifest last); returns the manifest's path."""
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
    ddr = external_words(images)
    if ddr:
        write_text(out / DDR_MEM, _mem_text(ddr, DDR_BEAT_BITS))
        data = ddr_bytes(ddr)
        atomic_write(out / DDR_BIN, lambda f: f.write(data))
    else:
        for name in (DDR_MEM, DDR_BIN):
            (out / name).unlink(missing_ok=True)
    manifest = {
        "format": FORMAT, "version": VERSION, "params": dataclasses.asdict(p),
        "memories": memories,
        DDR: ddr_entry(p, len(ddr)),
        "use": [dataclasses.asdict(u) for u in images.use],
        "registers": registers(images),
        "network": {"files": [Path(f).name for f in network_files],
                    "sha256": network_digest(network_files) if network_files else None},
    }
    return write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def _read_mem(path: Path, bits: int, count: int) -> list[int]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such memory image")
    # Sizes before reading: a line is at most the word's digits, CR LF and some blanks.
    limit = count * (-(-bits // 4) + 8) + 4096
    if path.stat().st_size > limit:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes, too large for the {count:,} "
                         f"{bits}-bit words the manifest says")
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


def _unpack_ddr(words: np.ndarray, p: AcceleratorParams, path: Path) -> np.ndarray:
    """``uint64`` DDR words into signed weight lanes ``[n, lanes]`` (as ``unpack_lanes``);
    ``ValueError`` on a word with bits above its lanes."""
    b, used = p.weight_bits, p.lanes * p.weight_bits
    if used < DDR_BEAT_BITS:
        bad = np.flatnonzero(words >> np.uint64(used))
        if bad.size:
            raise ValueError(f"{path}: word {bad[0]} ({int(words[bad[0]]):#018x}) is wider than "
                             f"{used} bits ({p.lanes} lanes of {b})")
    mask, sign = np.uint64((1 << b) - 1), np.int64(1 << (b - 1))
    lanes = [((words >> np.uint64(i * b)) & mask).astype(np.int64) for i in range(p.lanes)]
    return ((np.stack(lanes, axis=1) ^ sign) - sign).reshape(-1, p.lanes)


def _read_ddr(out: Path, entry, p: AcceleratorParams, path: Path) -> np.ndarray:
    """The DDR weight rows of a folder (``weight_ddr.mem`` and ``.bin``, which must agree)."""
    try:
        count = int(entry["words"])
        if entry["word_bits"] != DDR_BEAT_BITS or int(entry["bytes"]) != count * DDR_BEAT_BYTES:
            raise ValueError(f"word_bits {entry['word_bits']!r}, bytes {entry['bytes']!r}: "
                             f"expected {DDR_BEAT_BITS} and 8 per word")
        if int(entry["first_word"]) != p.weight_depth:
            raise ValueError(f"first_word {entry['first_word']!r} is not weight_depth "
                             f"{p.weight_depth}")
        mem_name, bin_name = entry["mem"], entry["bin"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad {DDR} entry: {exc}") from None
    if (mem_name, bin_name) != (DDR_MEM, DDR_BIN):
        raise ValueError(f"{path}: {DDR} files {mem_name!r}, {bin_name!r}: expected "
                         f"{DDR_MEM!r} and {DDR_BIN!r}")
    if not 0 < count <= p.external_weight_depth:
        raise ValueError(f"{path}: {DDR} has {count:,} words, the parameters allow 1.."
                         f"{p.external_weight_depth:,} (external_weight_depth)")
    bin_path = out / DDR_BIN
    if not bin_path.is_file():
        raise FileNotFoundError(f"{bin_path}: no such DDR weight image")
    size = bin_path.stat().st_size
    if size != count * DDR_BEAT_BYTES:
        raise ValueError(f"{bin_path}: {size:,} bytes, the manifest says {count:,} words "
                         f"({count * DDR_BEAT_BYTES:,} bytes)")
    words = np.frombuffer(bin_path.read_bytes(), dtype="<u8").astype(np.uint64)
    text = np.array(_read_mem(out / DDR_MEM, DDR_BEAT_BITS, count), dtype=np.uint64)
    differ = np.flatnonzero(words != text)
    if differ.size:
        k = int(differ[0])
        raise ValueError(f"{bin_path}: word {k} is {int(words[k]):#018x}, {DDR_MEM} says "
                         f"{int(text[k]):#018x}")
    return _unpack_ddr(words, p, bin_path)


def read_images(out_dir) -> Images:
    """Parse a ``twinspike compile`` folder back into :class:`Images` (``ValueError`` naming
    the file and line on anything malformed; sizes are checked against the manifest and the
    parameters before a file is read). The weights are the on-chip rows of ``weight.mem``
    then the DDR rows of ``weight_ddr.bin`` (== ``weight_ddr.mem``)."""
    out = Path(out_dir)
    path = out / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest")
    if path.stat().st_size > 1 << 20:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes, too large for a manifest")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a JSON {type(doc).__name__}, expected an object")
    if doc.get("format") != FORMAT or doc.get("version") not in READ_VERSIONS:
        raise ValueError(f"{path}: format {doc.get('format')!r} version {doc.get('version')!r}"
                         f", expected {FORMAT!r} version "
                         f"{' or '.join(map(str, READ_VERSIONS))}")
    try:
        p = AcceleratorParams(**doc["params"])
        use = tuple(MemoryUse(**u) for u in doc["use"])
        sizes = {m: int(doc["memories"][m]["words"]) for m in IMAGES}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad params, use or memories field: {exc}") from None
    depth = {"table": p.table_depth, "weight": p.weight_depth, "bias": p.bias_depth,
             "geometry": p.geometry_depth}
    for m in IMAGES:
        if not 0 <= sizes[m] <= depth[m]:
            raise ValueError(f"{path}: {m} has {sizes[m]:,} words, the parameters allow 0.."
                             f"{depth[m]:,}")
    used = {u.memory: u.used for u in use}
    entry = doc.get(DDR)
    if entry is not None and not (isinstance(entry, dict) and isinstance(entry.get("words"), int)):
        raise ValueError(f"{path}: bad {DDR} entry {entry!r}: expected null or an object with "
                         "an integer 'words'")
    n_ddr = entry["words"] if entry else 0
    if used.get(DDR, 0) != n_ddr:
        raise ValueError(f"{path}: the network has {used.get(DDR, 0):,} weight words in DDR "
                         f"(use), the {DDR} entry {n_ddr:,}" + (
                             " (written before DDR weights had files: compile again)"
                             if doc.get("version") == 1 else ""))
    if n_ddr and sizes["weight"] != p.weight_depth:
        raise ValueError(f"{path}: {sizes['weight']:,} on-chip weight words with weights in "
                         f"DDR: expected the whole on-chip memory ({p.weight_depth:,})")
    words = {m: _read_mem(out / f"{m}.mem", word_bits(m, p), sizes[m]) for m in IMAGES}
    lanes = lambda ws, n, bits, signed=True: np.array(  # noqa: E731
        [unpack_lanes(w, n, bits, signed) for w in ws], dtype=np.int64).reshape(-1, n)
    weights = lanes(words["weight"], p.lanes, p.weight_bits)
    if n_ddr:
        weights = np.concatenate([weights, _read_ddr(out, entry, p, path)])
    return Images(params=p, table=np.array(words["table"], dtype=np.uint32),
                  weights=weights, biases=lanes(words["bias"], p.lanes, p.membrane_bits),
                  geometry=lanes(words["geometry"], 3, GEOMETRY_FIELD_BITS, False), use=use)


def use_report(images: Images) -> str:
    """One line per memory: words used of the depth (the weight memory is the sum over
    every layer's weights, as one time-shared engine holds them all)."""
    lines = []
    for u in images.use:
        if u.memory == DDR and not u.depth:
            continue                      # no DDR weights on this accelerator
        note = {"weight": " (sum over layers)",
                DDR: f" (in DDR at {DDR_REGISTER}: {DDR_BIN})" if u.used else ""}.get(u.memory, "")
        lines.append(f"{u.memory:>8} memory: {u.used:>9,} of {u.depth:>9,} words "
                     f"({100 * u.used / u.depth:5.1f} %){note}")
    return "\n".join(lines)
