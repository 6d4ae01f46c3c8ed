"""``--param KEY=VALUE`` options into a frozen parameter dataclass (block parameters for
``twinspike hdl``, :class:`AcceleratorParams` for ``compile`` and ``hw-metrics``)."""
from __future__ import annotations

import dataclasses


def params_from_pairs(cls, pairs, **fixed):
    """``cls(**fixed, **parsed pairs)``; every value an integer (``0x`` prefixes allowed).
    Raises ``ValueError`` naming the bad pair, or the dataclass's own range error."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = dict(fixed)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--param {pair!r}: expected KEY=VALUE")
        if key not in names:
            raise ValueError(f"--param {key}: {cls.__name__} has no field {key!r} "
                             f"(fields: {', '.join(sorted(names))})")
        try:
            kwargs[key] = int(value, 0)
        except ValueError:
            raise ValueError(f"--param {key}={value!r}: expected an integer") from None
    return cls(**kwargs)
