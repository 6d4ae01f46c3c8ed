"""Atomic file writes: a reader (or a crash) never sees a half-written result file.

Every result file twinspike writes (network ``.npz``/``.json``, results pages, plots) goes
through :func:`atomic_write`: the bytes go to a temporary file in the target's folder, which
is then renamed over the target (``os.replace`` is atomic within one file system).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write) -> Path:
    """Write through ``write(binary_file)`` into a temp file beside ``path``, then rename it
    to ``path`` (the folder is created if needed); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def write_text(path, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """:func:`atomic_write` of a matplotlib figure (format from ``path``'s suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **savefig_kwargs))
