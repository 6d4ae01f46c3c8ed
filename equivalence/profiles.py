"""Hypothesis settings profiles; the example count of each level is in ``equivalence/levels.py``.

Profile is chosen by ``TWINSPIKE_PROFILE`` (dev | ci | deep), else ``ci`` when the ``CI``
environment variable is set (as Hypothesis itself does), else ``dev``.
``ci`` and ``deep`` inherit Hypothesis' built-in ``ci`` profile (derandomised, no deadline,
no example database) and differ only in how many examples each level runs.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from twinspike.equivalence import levels
from twinspike.equivalence.levels import PROFILES, Level

PROFILE = os.environ.get("TWINSPIKE_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
if PROFILE not in PROFILES:
    raise ValueError(f"TWINSPIKE_PROFILE={PROFILE!r}: expected one of {', '.join(PROFILES)}")

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


def examples(level: Level | str) -> int:
    """Random cases per block at ``level`` (a :class:`Level` or its name) under the profile."""
    return (level if isinstance(level, Level) else levels.level(level)).examples[PROFILE]


def settings_for(level: Level | str) -> settings:
    """Hypothesis settings running :func:`examples` cases."""
    return settings(max_examples=examples(level))
