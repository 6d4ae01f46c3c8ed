#!/usr/bin/env bash
# The test command (README): the whole suite, including the four equivalence levels.
set -euo pipefail
cd "$(dirname "$0")/.."
# pytest (not python -m pytest): the repository root stays off sys.path, so the tests import
# the installed twinspike package.
exec pytest -q -p no:cacheprovider tests "$@"
