"""The GLM SNN model, its likelihood, its export to the ``glm_neuron`` unit, and ``twinspike glm``."""
import dataclasses
import itertools

import numpy as np
import pytest
import torch

from twinspike.cli import main
from twinspike.data import HAR_FEATURES, load_digits_split
from twinspike.ext import glm_neuron as cy
from twinspike.glm import experiment, model
from twinspike.glm import export as glm_export
from twinspike.sw import glm_neuron as ref
from twinspike.sw.glm_neuron import GlmNeuronParams


def _enumerate(u: np.ndarray, label: int):
    """Brute force over every output spike pattern of ``u`` ``(T, n_out)``: (P(label spikes
    first and alone, or nothing spikes), P(the unit's decoder says label) for each T')."""
    n_steps, n_out = u.shape
    p = 1 / (1 + np.exp(-u))
    alone, decoder = 0.0, np.zeros(n_steps)
    for pattern in itertools.product((0, 1), repeat=n_steps * n_out):
        o = np.array(pattern).reshape(n_steps, n_out)
        prob = np.prod(np.where(o, p, 1 - p))
        fired = np.flatnonzero(o.any(1))
        if not len(fired):
            alone += prob / n_out
        elif o[fired[0], label] and o[fired[0]].sum() == 1:
            alone += prob
        for t_max in range(1, n_steps + 1):
            if len(fired) and fired[0] < t_max:
                decoder[t_max - 1] += prob * (np.flatnonzero(o[fired[0]])[0] == label)
            else:
                decoder[t_max - 1] += prob * (np.argmax(u[t_max - 1]) == label)
    return alone, decoder


@pytest.mark.parametrize("seed", range(4))
def test_likelihood_and_decoder_probability_are_exact(seed):
    u = np.random.default_rng(seed).normal(0, 1.5, size=(3, 3))
    for label in range(3):
        alone, decoder = _enumerate(u, label)
        ut, lt = torch.tensor(u[None]), torch.tensor([label])
        assert float(model.log_likelihood(ut, lt)[0].exp()) == pytest.approx(alone, rel=1e-9)
        np.testing.assert_allclose(model.p_correct_by_step(ut, lt).numpy(), decoder, rtol=1e-9)


def test_binary_sign_forward_and_clipped_straight_through_gradient():
    w = torch.tensor([-2.0, -0.5, 0.0, 0.5, 1.5], requires_grad=True)
    out = model.BinarySign.apply(w)
    assert out.tolist() == [-1, -1, 1, 1, 1]
    out.sum().backward()
    assert w.grad.tolist() == [0, 1, 1, 1, 0]


def test_trace_sum_bound_is_the_largest_trace_sum():
    p = GlmNeuronParams(n_in=3, n_out=1, n_kernels=3, tau=5)
    s = (np.random.default_rng(0).random((4, 7, 3)) < 0.5).astype(np.uint8)
    sums = [sum(p.kernels[k, d - 1] * s[b, t + 1 - d, j] for j in range(3) for k in range(3)
                for d in range(1, p.tau + 1) if t + 1 - d >= 0)
            for b in range(4) for t in range(7)]
    assert model.trace_sum_bound(p, s) == max(sums)


@pytest.fixture(scope="module")
def trained():
    """A briefly trained digits network, exported, with encoded test spikes."""
    cfg = experiment.GlmConfig(n_kernels=2, tau=4, max_steps=12)
    split = load_digits_split(0)
    x_train, x_test = experiment.to_bytes(split.x_train), experiment.to_bytes(split.x_test)
    base = GlmNeuronParams(n_in=64, n_out=10, n_kernels=2, tau=4, max_steps=12)
    s_train, s_test = experiment.encode(64, cfg, x_train), experiment.encode(64, cfg, x_test)
    net = model.GlmSnn(base, torch.Generator().manual_seed(0))
    model.train(net, torch.from_numpy(s_train), torch.tensor(split.y_train),
                model.TrainConfig(epochs=3))
    return net, model.export(net, base, model.trace_sum_bound(base, s_train)), s_test, split.y_test


def test_float_membranes_are_the_units_integer_membranes(trained):
    """The unit's integer membranes times ``alpha / 2**F`` are the torch model's membranes (up
    to the bias rounding): traces, kernels, weights and order all agree."""
    net, ex, s_test, _ = trained
    silent = dataclasses.replace(ex.params, sigmoid_lut=(0,) * len(ex.params.sigmoid_lut))
    records = ref.infer_batch(silent, ex.weights, ex.biases, s_test[:5])   # every step recorded
    with torch.no_grad():
        u = net.membranes(torch.from_numpy(s_test[:5])).numpy()
        lsb = float(net.log_alpha.exp()) / 2 ** silent.kernel_frac_bits
    for b, r in enumerate(records):
        assert len(r["membranes"]) == silent.max_steps
        np.testing.assert_allclose(r["membranes"] * lsb, u[b], atol=lsb, rtol=1e-5)
        assert np.abs(r["membranes"]).max() < 2 ** (silent.membrane_bits - 1) - 1  # no saturation


def test_export_lut_is_the_sigmoid_at_the_learned_gain(trained):
    net, ex, _, _ = trained
    p = ex.params
    lsb = float(net.log_alpha.detach().exp()) / 2 ** p.kernel_frac_bits
    for u in range(-(1 << (p.lut_in_bits - 1 + p.lut_shift)), 1 << (p.lut_in_bits - 1 + p.lut_shift),
                   1 << p.lut_shift):
        q = p.sigmoid_lut[ref.lut_index(p, u)] / 2 ** p.lut_out_bits
        bin_width = lsb * 2 ** p.lut_shift / 4          # max slope 1/4 of the sigmoid
        assert abs(q - 1 / (1 + np.exp(-lsb * u))) <= bin_width + 2.0 ** -p.lut_out_bits


def test_myhdl_unit_decides_like_the_cython_evaluator_on_test_images(trained):
    """Same seeds, same decisions and decision steps: MyHDL unit == OpenMP batch evaluator."""
    _, ex, s_test, y_test = trained
    sample = s_test[:3]
    same, records, (decision, step, fallback) = experiment.myhdl_check(ex, sample)
    assert same, (records, decision, step, fallback)
    assert [r["step"] for r in records] == step.tolist()
    assert (fallback == 0).any(), "no sample was decided by a spike: the check would be weak"
    # the evaluator's whole-batch run gives these samples the same results
    full = cy.evaluate(ex.params, ex.weights, ex.biases, s_test)
    assert full[0][:3].tolist() == decision.tolist() and full[1][:3].tolist() == step.tolist()


def test_float_features_map_to_bytes():
    x = np.array([[-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]], dtype=np.float32)
    assert experiment.to_bytes(x).tolist() == [[0, 0, 128, 191, 255, 255]]
    img = np.arange(8, dtype=np.uint8).reshape(1, 1, 2, 4)
    assert experiment.to_bytes(img).tolist() == [list(range(8))]


def _write_har(root, rng, n_train=24, n_test=12):
    for part, n in (("train", n_train), ("test", n_test)):
        (root / part).mkdir(parents=True)
        x = rng.uniform(-1, 1, size=(n, HAR_FEATURES))
        np.savetxt(root / part / f"X_{part}.txt", x, fmt="%.6f")
        np.savetxt(root / part / f"y_{part}.txt", np.arange(n) % 6 + 1, fmt="%d")


def test_cli_glm_runs_on_a_har_folder(tmp_path, capsys):
    _write_har(tmp_path / "har", np.random.default_rng(0))
    out = tmp_path / "docs" / "glm_har.md"
    rc = main(["glm", "--data", f"har:{tmp_path / 'har'}", "--out", str(out), "--epochs", "2",
               "-T", "4", "--myhdl-images", "0"])
    assert rc == 0
    text = out.read_text()
    assert "561 inputs -> 6 GLM output neurons" in text and "\n| 4 | " in text
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out


def test_cli_glm_digits_with_myhdl_check(tmp_path, capsys):
    out = tmp_path / "glm.md"
    rc = main(["glm", "--out", str(out), "--epochs", "2", "-T", "3", "--kernels", "1",
               "--tau", "2", "--myhdl-images", "2"])
    assert rc == 0
    text = out.read_text()
    assert "| 3 | " in text and "the same decisions" in text
    net = glm_export.load(out.with_suffix(".npz"))      # the exported network file
    assert net.steps == 3 and net.params.n_kernels == 1 and "glm.npz" in text
    assert "MyHDL == Cython on 2 test samples: True" in capsys.readouterr().out


def test_cli_glm_reports_bad_data_spec(tmp_path, capsys):
    assert main(["glm", "--data", "har:" + str(tmp_path / "missing"), "--out",
                 str(tmp_path / "x.md")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["glm", "--data", "nonsense", "--out", str(tmp_path / "x.md")]) == 2
