"""``twinspike hw-metrics``: a network on the MyHDL accelerator (the layer sequencer), checked
against the Cython evaluator and the cycle model, with the brief's hardware metrics."""
import numpy as np
import pytest

from networks import conv_net, dense_net
from twinspike.cli import main
from twinspike.data import load_digits_split
from twinspike.hwmetrics import demo_hw_check, hw_metrics, params_from, report, summary
from twinspike.network import save
from twinspike.sw.layer_sequencer import AcceleratorParams

T = 3
SMALL = AcceleratorParams(lanes=4, weight_depth=1024, state_depth=512, bias_depth=256,
                          geometry_depth=128, spike_depth=128, input_depth=128, table_depth=256)


@pytest.fixture(scope="module")
def digits():
    return load_digits_split().x_test[:4]


def test_metrics_agree_and_follow_the_cycle_model(digits):
    m = hw_metrics(conv_net(), digits[:2], T, SMALL, clock_mhz=200, synth=False)
    assert m.agrees and m.model_holds
    assert m.cycles.shape == (2,) and (m.sops > 0).all()
    assert m.gsops == pytest.approx(m.sops.sum() / (m.cycles.sum() / 200e6) / 1e9)
    text = report(m, "title")
    assert "MyHDL accelerator == Cython evaluator" in text and "cycle model" in text
    assert "| weight |" in text and "synthesis skipped" in text


def test_workers_split_the_images_and_join_the_same_records(digits):
    one = hw_metrics(dense_net("direct"), digits[:3], T, SMALL, synth=False)
    two = hw_metrics(dense_net("direct"), digits[:3], T, SMALL, synth=False, workers=2)
    np.testing.assert_array_equal(one.cycles, two.cycles)
    np.testing.assert_array_equal(one.sops, two.sops)


def test_demo_line(digits):
    line = demo_hw_check(dense_net("direct"), digits[:2], T, SMALL)
    assert line.startswith("MyHDL accelerator == Cython evaluator on 2 test images")


def test_bad_calls_are_named(digits):
    with pytest.raises(ValueError, match="clock_mhz"):
        hw_metrics(dense_net("direct"), digits, T, SMALL, clock_mhz=0)
    with pytest.raises(ValueError, match="weight memory needs"):
        hw_metrics(conv_net(), digits, T, AcceleratorParams(weight_depth=64, external_weight_depth=0),
                   synth=False)
    with pytest.raises(ValueError, match="has no field 'lane'"):
        params_from(["lane=3"])
    assert params_from(["weight_depth=0x400"], lanes=3) == AcceleratorParams(lanes=3,
                                                                             weight_depth=1024)


def test_synthesis_reports_the_whole_top(digits, yosys):
    m = hw_metrics(dense_net("direct"), digits[:1], 2, SMALL)
    r = m.resources
    assert r.lut > 0 and r.ff > 0 and r.dsp == SMALL.lanes      # one multiplier per lane
    assert m.fits
    assert 1 < r.arrival_ns < 100 and m.met_clock_mhz == pytest.approx(700 / r.arrival_ns)
    assert 5 < r.ltp_cells < 500
    text = report(m)
    assert "whole top" in text and "fits the xc7z020" in text and "worst arrival" in text
    assert f"longest path {r.ltp_cells} cells" in text
    doc = summary(m)
    assert doc["clock_mhz"] == m.met_clock_mhz and doc["arrival_ns"] == r.arrival_ns
    assert doc["gsops"] == pytest.approx(m.gsops_at(m.met_clock_mhz))
    assert (doc["lut"], doc["ff"], doc["dsp"], doc["bram36"]) == (r.lut, r.ff, r.dsp, r.bram36)
    assert doc["fits_xc7z020"] is True and doc["lanes"] == SMALL.lanes
    assert doc["cycles"] == m.cycles_per_inference and doc["sops"] == m.sops_per_inference


def test_cli_report_json(tmp_path, capsys, monkeypatch):
    """`twinspike report --json`: one JSON object with the keys scripts check. Yosys is
    replaced by fixed counts here (test_synthesis_reports_the_whole_top runs it)."""
    import json

    from twinspike.hw import toolchain

    fixed = toolchain.Resources(1000, 500, 2, 3.5, {}, arrival_ns=7.0, ltp_cells=20)
    monkeypatch.setattr(toolchain, "synth_xc7", lambda *a, **k: fixed)
    save(dense_net("direct"), tmp_path / "net")
    small = ["--param", "weight_depth=1024", "--param", "state_depth=512", "--param",
             "bias_depth=256", "--param", "geometry_depth=128", "--param", "spike_depth=128",
             "--param", "input_depth=128", "--param", "table_depth=256"]
    assert main(["report", "--model", str(tmp_path / "net.npz"), "--images", "1", "-T", "2",
                 "--lanes", "2", "--json", *small]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("gsops", "clock_mhz", "arrival_ns", "cycles", "sops", "lanes", "lut", "ff",
                "dsp", "bram36", "fits_xc7z020", "ltp_cells"):
        assert doc[key] is not None, key
    assert doc["lanes"] == 2 and doc["agrees"] and doc["model_holds"]
    assert (doc["lut"], doc["arrival_ns"], doc["ltp_cells"], doc["clock_mhz"]) == (1000, 7.0, 20,
                                                                                   100.0)
    assert doc["gsops"] == pytest.approx(doc["sops"] / doc["cycles"] * doc["clock_mhz"] / 1000)


def test_cli_hw_metrics(tmp_path, capsys):
    save(dense_net("direct"), tmp_path / "net")
    small = ["--param", "weight_depth=1024", "--param", "state_depth=512", "--param",
             "bias_depth=256", "--param", "geometry_depth=128", "--param", "spike_depth=128",
             "--param", "input_depth=128", "--param", "table_depth=256"]
    assert main(["hw-metrics", "--model", str(tmp_path / "net.npz"), "--images", "2", "-T", "2",
                 "--lanes", "4", "--no-synth", *small]) == 0
    out = capsys.readouterr().out
    assert "2 test images, T=2, accelerator: 4 lanes" in out and "GSOPS at 100 MHz" in out
    assert main(["hw-metrics", "--model", str(tmp_path / "net.npz"), "--lanes", "0",
                 "--no-synth"]) == 2
    assert "lanes" in capsys.readouterr().err


def test_vcd_trace_and_its_timing_diagram(digits, tmp_path):
    import myhdl

    before = (myhdl.traceSignals.filename, myhdl.traceSignals.directory,
              myhdl.traceSignals.tracelists)
    m = hw_metrics(dense_net("direct"), digits[:2], 2, SMALL, synth=False,
                   vcd=tmp_path / "trace.vcd")
    assert m.agrees
    assert (tmp_path / "trace.vcd").stat().st_size > 0 and (tmp_path / "trace.png").is_file()
    assert (myhdl.traceSignals.filename, myhdl.traceSignals.directory,
            myhdl.traceSignals.tracelists) == before
    from twinspike.timing import read_vcd, timestep_window

    ch = read_vcd(tmp_path / "trace.vcd", ["t", "state", "q"], "layer_sequencer")
    start, end = timestep_window(ch["t"], 1, ch["state"])
    assert 0 < end - start
    with pytest.raises(ValueError, match="no signal nope"):
        read_vcd(tmp_path / "trace.vcd", ["nope"], "layer_sequencer")
    with pytest.raises(ValueError, match="ending in .vcd"):
        hw_metrics(dense_net("direct"), digits[:1], 2, SMALL, synth=False, vcd=tmp_path / "x")
