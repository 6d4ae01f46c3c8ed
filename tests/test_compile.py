"""``twinspike compile``: the .mem/.coe files and manifest hold exactly the compiled images,
and the network runs from the files read back."""
import json

import numpy as np
import pytest

from twinspike.cli import main
from twinspike.compile import read_images, write_images
from twinspike.ext.evaluate import evaluate
from twinspike.network import save
from twinspike.sw import layer_sequencer as seq

from test_layer_sequencer import _residual_net


@pytest.fixture
def compiled(tmp_path, capsys):
    net = _residual_net()
    save(net, tmp_path / "net.npz")
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "img"),
                 "--param", "lanes=4"]) == 0
    return net, tmp_path / "img", capsys.readouterr().out


def test_files_parse_back_into_the_compiled_images(compiled):
    net, out, printed = compiled
    images = seq.compile_network(net, seq.AcceleratorParams(lanes=4))
    assert read_images(out) == images
    assert "weight memory:       153 of    32,768 words" in printed
    assert "(sum over layers)" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["registers"] == {"layer_count": 4, "table_base": 0}
    assert manifest["memories"]["weight"]["word_bits"] == 4 * 8
    assert len(manifest["network"]["sha256"]) == 64
    coe = (out / "weight.coe").read_text().splitlines()
    assert coe[0] == "memory_initialization_radix=16;" and coe[-1].endswith(";")
    assert len(coe) == 2 + 153
    mem = (out / "weight.mem").read_text().splitlines()
    assert [line.rstrip(",;") for line in coe[2:]] == mem


def test_the_network_runs_from_the_files(compiled):
    net, out, _ = compiled
    images = np.random.default_rng(1).integers(0, 256, size=(2, 1, 6, 6))
    got, want = seq.run(net, read_images(out), images, 5), evaluate(net, images, 5)
    for name in ("spikes", "counts", "predictions", "membranes", "sops"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_malformed_files_are_named(compiled):
    _, out, _ = compiled
    text = (out / "bias.mem").read_text().splitlines()
    (out / "bias.mem").write_text("\n".join(text[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"bias.mem: \d+ words, the manifest says \d+"):
        read_images(out)
    (out / "bias.mem").write_text("\n".join(["zz"] + text[1:]) + "\n")
    with pytest.raises(ValueError, match=r"bias.mem:1: 'zz' is not a hex word"):
        read_images(out)


def test_a_network_that_does_not_fit_is_one_line_exit_2(tmp_path, capsys):
    save(_residual_net(), tmp_path / "net")
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "x"),
                 "--param", "weight_depth=64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weight memory needs 117 words" in err[0] and "short by" in err[0]
    assert not (tmp_path / "x").exists()
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "x"),
                 "--param", "lane=4"]) == 2
    assert "AcceleratorParams has no field 'lane'" in capsys.readouterr().err


def test_write_images_is_a_pure_function_of_the_images(tmp_path):
    images = seq.compile_network(_residual_net(), seq.AcceleratorParams(lanes=2))
    write_images(images, tmp_path / "a")
    write_images(images, tmp_path / "b")
    for name in ("table.mem", "weight.mem", "bias.mem", "geometry.mem", "weight.coe"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
