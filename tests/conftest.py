import os

import pytest

from twinspike.equivalence import profiles
from twinspike.hw.toolchain import ToolMissing, require

profiles.load()

REQUIRE_TOOLS = os.environ.get("TWINSPIKE_REQUIRE_HDL_TOOLS") == "1"


def need_tool(tool: str) -> None:
    """Skip with the reason when ``tool`` is missing; fail instead where CI requires it."""
    try:
        require(tool)
    except ToolMissing as exc:
        if REQUIRE_TOOLS:
            pytest.fail(f"{exc} (TWINSPIKE_REQUIRE_HDL_TOOLS=1)")
        pytest.skip(str(exc))


@pytest.fixture
def ghdl():
    need_tool("ghdl")


@pytest.fixture
def yosys():
    need_tool("yosys")


@pytest.fixture(name="need_tool")
def need_tool_fixture():
    """``need_tool(tool)`` for tests that learn which tool they need from a parameter."""
    return need_tool
