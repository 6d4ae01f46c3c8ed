"""``twinspike compile``: the .mem/.coe files and manifest hold exactly the compiled images,
and the network runs from the files read back."""
import json

import numpy as np
import pytest

from twinspike.cli import main
from twinspike.compile import read_images, use_report, write_images
from twinspike.ext.evaluate import evaluate
from twinspike.hw.layer_sequencer import external_words
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
                 "--param", "weight_depth=64", "--param", "external_weight_depth=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weight memory needs 117 words" in err[0] and "short by" in err[0]
    assert not (tmp_path / "x").exists()
    # With DDR behind the on-chip memory the shortfall is over both.
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "x"),
                 "--param", "weight_depth=64", "--param", "external_weight_depth=32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "64 on chip + 32 in DDR (short by 21)" in err[0]
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


# ----------------------------------------------------------------------------- DDR weights

DDR_PARAMS = seq.AcceleratorParams(weight_depth=64)        # 117 weight words: 53 in DDR


@pytest.fixture
def ddr_compiled(tmp_path, capsys):
    net = _residual_net()
    save(net, tmp_path / "net.npz")
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "img"),
                 "--param", "weight_depth=64"]) == 0
    return net, tmp_path / "img", capsys.readouterr().out


def test_ddr_weights_are_written_and_parse_back(ddr_compiled):
    net, out, printed = ddr_compiled
    images = seq.compile_network(net, DDR_PARAMS)
    assert len(images.onchip_weights) == 64 and len(images.external_weights) == 53
    back = read_images(out)
    assert back == images                       # weights: on-chip rows then DDR rows
    np.testing.assert_array_equal(back.weights, images.weights)
    assert "weight_ddr memory:        53 of 4,194,304 words" in printed
    assert "53 weight words (424 bytes) live in DDR: weight_ddr.mem and weight_ddr.bin" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 2
    entry = manifest["weight_ddr"]
    assert {k: entry[k] for k in ("mem", "bin", "words", "bytes", "word_bits", "first_word",
                                  "target", "register", "line_bytes")} == {
        "mem": "weight_ddr.mem", "bin": "weight_ddr.bin", "words": 53, "bytes": 424,
        "word_bits": 64, "first_word": 64, "target": "DDR", "register": "WEIGHT_ADDR",
        "line_bytes": 8 * 16}
    assert manifest["memories"]["weight"]["words"] == 64
    assert len((out / "weight.mem").read_text().splitlines()) == 64
    # The .mem holds 16 hex digits per word, the .bin the same words little-endian.
    words = external_words(images)
    mem = (out / "weight_ddr.mem").read_text().splitlines()
    assert mem == [f"{w:016x}" for w in words]
    data = (out / "weight_ddr.bin").read_bytes()
    assert data == b"".join(w.to_bytes(8, "little") for w in words) and len(data) == 424
    # The network runs from the files read back.
    x = np.random.default_rng(2).integers(0, 256, size=(2, 1, 6, 6))
    got, want = seq.run(net, back, x, 4), evaluate(net, x, 4)
    for name in ("counts", "predictions", "sops"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.weight_fills.sum() > 0


def test_malformed_ddr_files_are_named(ddr_compiled):
    _, out, _ = ddr_compiled
    bin_path, mem_path = out / "weight_ddr.bin", out / "weight_ddr.mem"
    good = bin_path.read_bytes()
    bin_path.write_bytes(good[:-8])
    with pytest.raises(ValueError, match=r"weight_ddr.bin: 416 bytes, the manifest says 53 "
                                         r"words \(424 bytes\)"):
        read_images(out)
    bad = bytearray(good)
    bad[8 * 7] ^= 1
    bin_path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"weight_ddr.bin: word 7 is 0x[0-9a-f]{16}, "
                                         r"weight_ddr.mem says"):
        read_images(out)
    bin_path.unlink()
    with pytest.raises(FileNotFoundError, match="weight_ddr.bin: no such DDR weight image"):
        read_images(out)
    bin_path.write_bytes(good)
    lines = mem_path.read_text().splitlines()
    mem_path.write_text("\n".join(["1" + lines[0][1:] + "0"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match=r"weight_ddr.mem:1: 1[0-9a-f]+ is wider than 64 bits"):
        read_images(out)
    mem_path.write_text("\n".join(lines) + "\n")
    assert read_images(out).weights.shape == (117, 8)
    # The manifest's sizes are checked before a file is read.
    path = out / "manifest.json"
    doc = json.loads(path.read_text())
    for change, match in (
            (lambda d: d["weight_ddr"].update(words=1 << 23, bytes=8 << 23),
             r"the network has 53 weight words in DDR \(use\), the weight_ddr entry 8,388,608"),
            (lambda d: [d["weight_ddr"].update(words=1 << 23, bytes=8 << 23)] + [
                u.update(used=1 << 23) for u in d["use"] if u["memory"] == "weight_ddr"],
             r"weight_ddr has 8,388,608 words, the parameters allow 1..4,194,304"),
            (lambda d: d.update(weight_ddr=None),
             r"the network has 53 weight words in DDR \(use\), the weight_ddr entry 0"),
            (lambda d: d.update(weight_ddr="x"), r"bad weight_ddr entry 'x'"),
            (lambda d: d["memories"]["weight"].update(words=65),
             r"weight has 65 words, the parameters allow 0..64"),
            (lambda d: d.update(version=1, weight_ddr=None), r"compile again")):
        broken = json.loads(json.dumps(doc))
        change(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=match):
            read_images(out)


def test_recompiling_without_ddr_removes_the_ddr_files(ddr_compiled, tmp_path):
    net, out, _ = ddr_compiled
    write_images(seq.compile_network(net, seq.AcceleratorParams()), out)
    assert not (out / "weight_ddr.mem").exists() and not (out / "weight_ddr.bin").exists()
    assert json.loads((out / "manifest.json").read_text())["weight_ddr"] is None
    assert read_images(out) == seq.compile_network(net, seq.AcceleratorParams())
    # An accelerator without DDR weights has no weight_ddr line in the report.
    report = use_report(seq.compile_network(net, seq.AcceleratorParams(external_weight_depth=0)))
    assert "weight_ddr" not in report and "weight memory" in report
