"""The ``twinspike hdl`` verbs as a user runs them: convert (with --check, from any folder and
to relative or absolute --out), synth (and the README block it writes), verify (levels); and
``twinspike compile`` of a network whose weights overflow the on-chip memory (the DDR weight
image; tests/test_compile.py checks the files in depth)."""
import builtins
import sys

import pytest

from twinspike.cli import SYNTH_README_BLOCK, main
from twinspike.readme import markers


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_convert_check_works_with_relative_and_absolute_out(where, ghdl, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.chdir(tmp_path)
    out = "build/x" if where == "relative" else str(tmp_path / "abs" / "x")
    assert main(["hdl", "convert", "lfsr", "--out", out, "--check"]) == 0
    printed = capsys.readouterr().out
    assert "GHDL --std=08 analyse+elaborate: ok" in printed
    assert (tmp_path / "build/x/lfsr.vhd" if where == "relative"
            else tmp_path / "abs/x/lfsr.vhd").is_file()


def test_convert_check_from_another_folder_with_parameters(ghdl, tmp_path, monkeypatch, capsys):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["hdl", "convert", "dense_engine", "--out", "../out", "--check",
                 "--param", "n_out=12", "--param", "lanes=4"]) == 0
    assert (tmp_path / "out" / "dense_engine.vhd").is_file()
    assert "ok" in capsys.readouterr().out


def test_convert_bad_arguments_are_one_line(tmp_path, capsys):
    assert main(["hdl", "convert", "nope", "--out", str(tmp_path)]) == 2
    assert main(["hdl", "convert", "lfsr", "--out", str(tmp_path), "--param", "width=99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown block 'nope'" in err[0] and "width" in err[1]


def test_synth_markdown_all_rewrites_only_the_readme_block(yosys, tmp_path, monkeypatch, capsys):
    import twinspike.hw.toolchain as toolchain

    # Synthesising all nine blocks takes minutes; the table's plumbing is what is tested here
    # (tests/test_equivalence.py synthesises every block for real).
    monkeypatch.setattr(toolchain, "synth_xc7",
                        lambda inst, name, workdir=None, timing=False:
                        toolchain.Resources(1, 2, 0, 0.5, {}))
    begin, end = markers(*SYNTH_README_BLOCK)
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{begin}\nold\n{end}\n\nafter\n")
    assert main(["hdl", "synth", "--all", "--markdown", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{end}\n\nafter\n")
    table = text[text.index(begin):text.index(end)]
    assert table.count("| 1 | 2 | 0 | 0.5 |") == 9
    assert table == begin + "\n" + capsys.readouterr().out
    # One block, or other parameters, is not the README's table.
    readme.write_text(f"{begin}\nold\n{end}\n")
    assert main(["hdl", "synth", "lfsr", "--markdown", "--readme", str(readme)]) == 0
    assert "old" in readme.read_text()


def test_verify_runs_a_level_and_rejects_an_unknown_one(capsys):
    assert main(["hdl", "verify", "lfsr", "--level", "myhdl"]) == 0
    assert "lfsr: MyHDL == reference" in capsys.readouterr().out
    assert main(["hdl", "verify", "lfsr", "--level", "vhdl"]) == 2
    assert "--level" in capsys.readouterr().err


def test_verify_names_the_extra_when_the_harness_is_missing(monkeypatch, capsys):
    """As after ``pip install .`` without the test extra: hypothesis cannot be imported."""
    real_import = builtins.__import__

    def no_hypothesis(name, *args, **kwargs):
        if name == "hypothesis" or name.startswith("hypothesis."):
            raise ModuleNotFoundError("No module named 'hypothesis'")
        return real_import(name, *args, **kwargs)

    import twinspike
    import twinspike.equivalence

    # Forget the harness (and restore it, and the package's attribute, afterwards).
    monkeypatch.setattr(twinspike, "equivalence", twinspike.equivalence)
    for module in list(sys.modules):
        if module.startswith(("twinspike.equivalence", "hypothesis")):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", no_hypothesis)
    assert main(["hdl", "verify", "lfsr"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'twinspike[test]'" in err and len(err.strip().splitlines()) == 1


def test_convert_and_synth_take_the_whole_designs(ghdl, yosys, tmp_path, capsys):
    small = ["--param", "weight_depth=256", "--param", "state_depth=128", "--param",
             "bias_depth=64", "--param", "geometry_depth=64", "--param", "spike_depth=64",
             "--param", "input_depth=64", "--param", "table_depth=256"]
    assert main(["hdl", "convert", "accelerator_top", "--out", str(tmp_path / "top"), "--check",
                 *small]) == 0
    assert "accelerator_top: AcceleratorParams(" in capsys.readouterr().out
    assert main(["hdl", "synth", "layer_sequencer", "--timing", *small]) == 0
    out = capsys.readouterr().out
    assert "layer_sequencer: LUT=" in out and "arrival=" in out and "MHz with 30 %" in out
    assert main(["hdl", "verify", "accelerator_top"]) == 2         # the levels cover blocks
    assert "unknown block 'accelerator_top'" in capsys.readouterr().err


def test_compile_writes_the_ddr_weight_image_to_a_relative_out(tmp_path, monkeypatch, capsys):
    import json

    from test_layer_sequencer import _residual_net
    from twinspike.network import save

    save(_residual_net(), tmp_path / "net.npz")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["compile", "../net.npz", "--out", "img", "--param", "weight_depth=64"]) == 0
    printed = capsys.readouterr().out
    assert "53 weight words (424 bytes) live in DDR: weight_ddr.mem and weight_ddr.bin" in printed
    assert "(in DDR at WEIGHT_ADDR: weight_ddr.bin)" in printed
    out = tmp_path / "work" / "img"
    assert (out / "weight_ddr.bin").stat().st_size == 424
    assert len((out / "weight_ddr.mem").read_text().split()) == 53
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weight_ddr"]["register"] == "WEIGHT_ADDR"
    assert not [f for f in out.iterdir() if f.name.startswith(".")], "no temporary files left"
    # Every weight on chip: no DDR line, no DDR files.
    assert main(["compile", "../net.npz", "--out", "img"]) == 0
    assert "live in DDR" not in capsys.readouterr().out
    assert not (out / "weight_ddr.bin").exists()
