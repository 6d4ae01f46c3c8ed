"""Hypothesis settings profiles and per-level example counts.

Profile is chosen by ``TWINSPIKE_PROFILE`` (dev | ci | deep), else ``ci`` when the ``CI``
environment variable is set (as Hypothesis itself does), else ``dev``.
``ci`` and ``deep`` inherit Hypothesis' built-in ``ci`` profile (derandomised, no deadline,
no example database) and differ only in how many examples each level runs.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("TWINSPIKE_PROFILE") or ("ci" if os.environ.get("CI") else "dev")

#: (Cython == reference, MyHDL == reference, GHDL == MyHDL) examples per block.
EXAMPLES = {"dev": (100, 10, 3), "ci": (300, 25, 5), "deep": (3000, 150, 25)}
if PROFILE not in EXAMPLES:
    raise ValueError(f"TWINSPIKE_PROFILE={PROFILE!r}: expected one of {sorted(EXAMPLES)}")

# function_scoped_fixture: the tool fixtures only check PATH, they hold no per-example state.
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
         HealthCheck.function_scoped_fixture]
settings.register_profile("dev", deadline=None, suppress_health_check=_SLOW)
settings.register_profile("ci", parent=settings.get_profile("ci"), deadline=None,
                          suppress_health_check=_SLOW)
settings.register_profile("deep", parent=settings.get_profile("ci"), deadline=None,
                          suppress_health_check=_SLOW)


def load() -> None:
    settings.load_profile(PROFILE)


def cython_settings() -> settings:
    return settings(max_examples=EXAMPLES[PROFILE][0])


def myhdl_settings() -> settings:
    return settings(max_examples=EXAMPLES[PROFILE][1])


def ghdl_settings() -> settings:
    return settings(max_examples=EXAMPLES[PROFILE][2])
