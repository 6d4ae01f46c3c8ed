"""Generated blocks of the README: the text between two markers, rewritten by the command that
produces it (``twinspike accuracy``, ``twinspike hdl synth --all --markdown``), so no table in
the README is pasted by hand."""
from __future__ import annotations

from pathlib import Path

from twinspike.atomic import write_text


def markers(key: str, command: str) -> tuple[str, str]:
    """The begin and end marker lines of README block ``key`` (written by ``command``)."""
    return (f"<!-- twinspike {key}: begin (written by `{command}`) -->",
            f"<!-- twinspike {key}: end -->")


def update_block(path, key: str, command: str, body: str) -> bool:
    """Replace the text between block ``key``'s markers in ``path`` with ``body`` (atomically).
    Returns False, changing nothing, if ``path`` does not exist or lacks the markers (a README
    that is not twinspike's)."""
    path = Path(path)
    if not path.is_file():
        return False
    begin_marker, end_marker = markers(key, command)
    text = path.read_text()
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin < 0 or end < begin:
        return False
    body = body if body.endswith("\n") else body + "\n"
    write_text(path, text[:begin] + begin_marker + "\n" + body + text[end:])
    return True
