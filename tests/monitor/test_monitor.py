"""Monitor records: scalars, D outputs, and periodic evaluations checked against naive float64 metrics."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from naive_metrics import naive_fid, naive_kid, naive_prdc
from stand_in import StandInExtractor
from toy_training import LATENT, Config, mlp, train

from gan_eval.datasets.toy2d import sample_ring8
from gan_eval.errors import GanEvalError
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.registry import FAKE, LOWER, METRICS, REAL, Need, ResultKey, register_metric
from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.dashboard import dashboard_figure, dashboard_png
from gan_eval.monitor.html_report import report_html
from gan_eval.stats import FeatureStats, save_stats


def _monitor(path, **kwargs) -> Monitor:
    return Monitor(path, tensorboard=False, stderr=False, **kwargs)


def _events(path, kind: str) -> list[dict]:
    return [e for e in read_run(path).events if e["kind"] == kind]


def test_log_records_numbers_and_one_element_tensors(tmp_path):
    with _monitor(tmp_path) as monitor:
        monitor.log(3, loss_d=torch.tensor(0.25, requires_grad=True) * 2, loss_g=np.float32(1.5), lr=1e-4)
        monitor.log(4, loss_d=float("nan"))
    first, second = _events(tmp_path, "scalars")
    assert first == {"kind": "scalars", "step": 3, "loss_d": 0.5, "loss_g": 1.5, "lr": 1e-4}
    assert second["step"] == 4 and np.isnan(second["loss_d"])
    line = (tmp_path / "events.jsonl").read_text().splitlines()[-2]
    assert json.loads(line)["loss_d"] == "nan"  # valid JSON: non-finite numbers as strings


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.log(1.5, loss=1.0), "step must be an integer"),
        (lambda m: m.log(1, kind=2.0), "reserved"),
        (lambda m: m.log(1, loss="high"), "not a number"),
        (lambda m: m.log(1, loss=torch.ones(2)), "one-element"),
        (lambda m: m.discriminator(1, torch.ones(2), torch.ones(2), kind="hinge"), "use one of"),
        (lambda m: m.evaluate(0, mlp(2, 2, 4)), "latent_shape"),
    ],
)
def test_bad_calls_are_one_line_errors(tmp_path, call, message):
    with _monitor(tmp_path) as monitor, pytest.raises(GanEvalError, match=message):
        call(monitor)


def test_closed_monitor_refuses_calls_and_existing_record_needs_resume(tmp_path):
    monitor = _monitor(tmp_path)
    monitor.close()
    monitor.close()
    with pytest.raises(GanEvalError, match="closed"):
        monitor.log(0, loss=1.0)
    with pytest.raises(GanEvalError, match="already holds a run record"):
        _monitor(tmp_path, resume=False)


def test_discriminator_summaries_equal_numpy(tmp_path):
    rng = np.random.default_rng(0)
    real_logits, fake_logits = rng.normal(1.0, 2.0, (64, 1)), rng.normal(-0.5, 2.0, (64, 1))
    real_logits[0, 0] = 0.0  # sign(0) = 0 counts neither way in r_t
    critic_real, critic_fake = rng.normal(size=(32,)), rng.normal(size=(32,))
    with _monitor(tmp_path) as monitor:
        monitor.discriminator(0, torch.tensor(real_logits), torch.tensor(fake_logits), kind="logits")
        sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        monitor.discriminator(1, torch.tensor(sigmoid(real_logits)), torch.tensor(sigmoid(fake_logits)), kind="probs")
        monitor.discriminator(2, torch.tensor(critic_real), torch.tensor(critic_fake), kind="critic")
    logits, probs, critic = _events(tmp_path, "discriminator")
    for event in (logits, probs):
        assert event["d_real"] == pytest.approx(sigmoid(real_logits).mean(), abs=1e-6)
        assert event["d_fake"] == pytest.approx(sigmoid(fake_logits).mean(), abs=1e-6)
    assert logits["r_t"] == pytest.approx(np.sign(real_logits).mean(), abs=1e-7)
    # p = 0.5 exactly is sign 0 as well; float32 rounding of sigmoid may move it by one sample at most.
    assert probs["r_t"] == pytest.approx(np.sign(real_logits).mean(), abs=1 / 64 + 1e-7)
    assert logits["real_mean"] == pytest.approx(real_logits.mean(), abs=1e-6)
    assert critic["critic_gap"] == pytest.approx(critic_real.mean() - critic_fake.mean(), abs=1e-6)
    assert "r_t" not in critic and "d_real" not in critic


class _Shift(torch.nn.Module):
    """G(z) = z * scale + shift: a generator whose samples an independent computation can reproduce."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))
        self.shift = shift

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.shift


def test_evaluation_of_points_equals_naive_float64_metrics(tmp_path):
    """FID, KID, precision/recall, density/coverage of 2-D samples from the seeded noise, vs naive formulas."""
    reference = sample_ring8(600, seed=5)
    n, seed = 400, 7
    generator = _Shift(0.5, 0.2)
    with _monitor(tmp_path, reference=reference, every=10, n_samples=n, latent_seed=seed, kid_subsets=5) as monitor:
        assert monitor.evaluate(5, generator, latent_shape=2) is None  # not a multiple of `every`
        event = monitor.evaluate(10, generator, latent_shape=2)
    # The documented protocol: z ~ N(0, I) of shape (n_samples, *latent_shape) from a CPU generator seeded
    # with `latent_seed`; k-NN metrics against a sorted `default_rng(seed)` subset of the reference as large as the
    # generated set; KID subsets of min(1000, n, n_reference).
    z = torch.randn((n, 2), generator=torch.Generator().manual_seed(seed)).double()
    fake = (z * 0.5 + 0.2).numpy()
    subset = np.sort(np.random.default_rng(seed).choice(len(reference), n, replace=False))
    assert event["fid"] == pytest.approx(naive_fid(reference, fake), rel=1e-6)
    kid_mean, kid_std = naive_kid(reference, fake, subsets=5, size=n, seed=seed)
    assert event["kid_mean"] == pytest.approx(kid_mean, rel=1e-6, abs=1e-12)
    assert event["kid_std"] == pytest.approx(kid_std, rel=1e-6, abs=1e-12)
    expected = naive_prdc(reference[subset], fake, k_pr=3, k_dc=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert event[name] == pytest.approx(expected[name], abs=1e-12), name
    spread = np.trace(np.cov(fake, rowvar=False)) / np.trace(np.cov(reference, rowvar=False))
    assert event["spread_ratio"] == pytest.approx(spread, rel=1e-6)
    assert event["spread_trace"] == pytest.approx(np.trace(np.cov(fake, rowvar=False)), rel=1e-6)
    assert event["n_samples"] == n and event["n_reference"] == 600 and event["noise_seed"] == seed
    assert (tmp_path / event["samples"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _events(tmp_path, "evaluation") == [event]


def test_fid_noise_at_the_monitors_sample_size(tmp_path, capsys):
    """`fid_std`: the grouped jackknife (20 groups split by `latent_seed`) of FID over the generated samples,
    recorded with each evaluation and stated in the first evaluation's cost line."""
    reference = sample_ring8(600, seed=5)
    n, seed = 300, 4
    with Monitor(tmp_path, tensorboard=False, reference=reference, every=None, n_samples=n, latent_seed=seed) as m:
        event = m.evaluate(0, _Shift(0.5, 0.2), latent_shape=2)
    z = torch.randn((n, 2), generator=torch.Generator().manual_seed(seed)).double()
    fake = (z * 0.5 + 0.2).numpy()
    parts = np.array_split(np.random.RandomState(seed).permutation(n), 20)
    leave_outs = np.array([naive_fid(reference, np.delete(fake, part, axis=0)) for part in parts])
    std = np.sqrt(19 / 20 * ((leave_outs - leave_outs.mean()) ** 2).sum())
    assert event["fid_std"] == pytest.approx(std, rel=1e-6)
    assert _events(tmp_path, "evaluation")[0]["fid_std"] == event["fid_std"]
    cost = next(line for line in capsys.readouterr().err.splitlines() if "the evaluation took" in line)
    assert f"at n_samples={n} FID {event['fid']:.4g} has standard error {event['fid_std']:.2g}" in cost


def test_the_former_seed_keyword_still_seeds_the_noise_with_a_deprecation_warning(tmp_path):
    """`Monitor(seed=)` is `Monitor(latent_seed=)` for one more release."""
    reference, generator = sample_ring8(200, seed=3), _Shift(0.5, 0.0)
    with pytest.warns(DeprecationWarning, match=r"latent_seed="):
        old = _monitor(tmp_path / "old", reference=reference, every=None, n_samples=100, seed=4)
    with old, _monitor(tmp_path / "new", reference=reference, every=None, n_samples=100, latent_seed=4) as new:
        before, after = old.evaluate(0, generator, latent_shape=2), new.evaluate(0, generator, latent_shape=2)
    for name in ("noise_seed", "fid", "kid_mean", "precision", "recall", "density", "coverage", "spread_ratio"):
        assert before[name] == after[name], name
    assert after["noise_seed"] == 4


def test_evaluations_are_paired_and_leave_training_untouched(tmp_path):
    """The same z at every evaluation; BatchNorm statistics, train/eval modes and random state unchanged."""
    torch.manual_seed(0)
    generator = torch.nn.Sequential(
        torch.nn.Linear(LATENT, 16), torch.nn.BatchNorm1d(16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 2)
    )
    generator.train()
    buffers = {k: v.clone() for k, v in generator.state_dict().items()}
    reference = sample_ring8(300, seed=1)
    with _monitor(tmp_path, reference=reference, every=1, n_samples=300) as monitor:
        state = torch.get_rng_state()
        first = monitor.evaluate(0, generator, latent_shape=LATENT)
        second = monitor.evaluate(1, generator, latent_shape=(LATENT,))
        assert torch.equal(torch.get_rng_state(), state)
    assert all(m.training for m in generator.modules())
    for key, value in generator.state_dict().items():
        assert torch.equal(value, buffers[key]), key
    for name in ("fid", "kid_mean", "precision", "recall", "density", "coverage", "spread_ratio"):
        assert first[name] == second[name], name


def test_sample_function_and_no_reference(tmp_path):
    """`sample=` replaces generator(z); without a reference only the spread is measured."""
    generator = _Shift(1.0, 0.0)
    with _monitor(tmp_path, every=None, n_samples=50) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=2, sample=lambda z: generator(z)[:, :1].repeat(1, 2))
    assert "fid" not in event and event["n_samples"] == 50
    z = torch.randn((50, 2), generator=torch.Generator().manual_seed(0)).double().numpy()
    assert event["spread_trace"] == pytest.approx(2 * np.var(z[:, 0], ddof=1), rel=1e-6)


def test_the_first_evaluation_says_what_it_will_do_and_what_it_cost(tmp_path, capsys):
    """Two stderr lines around the first evaluation only; every evaluation records its seconds."""
    generator = _Shift(1.0, 0.0)
    with Monitor(tmp_path, tensorboard=False, every=10, n_samples=50) as monitor:
        first = monitor.evaluate(0, generator, latent_shape=2)
        monitor.evaluate(10, generator, latent_shape=2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "gan-eval monitor: step 0: evaluating n_samples=50 generated samples every=10 steps"
    assert lines[1].startswith(f"gan-eval monitor: the evaluation took {first['seconds']:.1f} s, ")
    assert "since the Monitor started" in lines[1] and len(lines) == 2
    assert all(e["seconds"] >= 0 for e in _events(tmp_path, "evaluation"))
    with _monitor(tmp_path / "quiet", every=10, n_samples=50) as monitor:
        monitor.evaluate(0, generator, latent_shape=2)
    assert capsys.readouterr().err == ""


class _TinyImageGenerator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(-1, 3, 16, 16)


def test_evaluation_of_images_with_a_feature_extractor(tmp_path, stand_in):
    """Images in [-1, 1] become uint8 like saved files; reference images go through the same extractor."""
    torch.manual_seed(0)
    generator = _TinyImageGenerator()
    reference = np.random.default_rng(0).integers(0, 256, (120, 3, 16, 16), dtype=np.uint8)
    with _monitor(tmp_path, reference=reference, features=stand_in, every=None, n_samples=100) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=(8, 1, 1))
    z = torch.randn((100, 8, 1, 1), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = generator(z).double()
    fake_uint8 = torch.from_numpy(np.rint((images.numpy() + 1) * 127.5).astype(np.uint8))
    fake = stand_in.extract(fake_uint8)["pool3"].double().numpy()
    real = stand_in.extract(torch.from_numpy(reference))["pool3"].double().numpy()
    subset = np.sort(np.random.default_rng(0).choice(120, 100, replace=False))
    assert event["fid"] == pytest.approx(naive_fid(real, fake), rel=1e-5)
    expected = naive_prdc(real[subset], fake, k_pr=3, k_dc=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert event[name] == pytest.approx(expected[name], abs=1e-12), name
    assert event["features"] == "stand-in pool3"
    grid = tmp_path / event["samples"]
    from PIL import Image

    with Image.open(grid) as picture:
        assert picture.size == (8 * 18 + 2, 8 * 18 + 2)  # 64 of 100 images, 8 per row, 2-pixel gaps


def test_statistics_reference_gives_fid_and_spread_only(tmp_path):
    reference = sample_ring8(500, seed=2)
    stats = FeatureStats(2, meta={"extractor": "identity"})
    stats.update(reference)
    save_stats(stats, tmp_path / "ring.npz")
    generator = _Shift(0.3, 0.0)
    with _monitor(tmp_path / "run", reference=tmp_path / "ring.npz", every=None, n_samples=200) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=2)
    z = torch.randn((200, 2), generator=torch.Generator().manual_seed(0)).double().numpy()
    assert event["fid"] == pytest.approx(naive_fid(reference, 0.3 * z), rel=1e-6)
    assert "kid_mean" not in event and "coverage" not in event
    stats.features = reference.astype(np.float32)  # statistics that keep their samples: every metric
    with _monitor(tmp_path / "run2", reference=stats, every=None, n_samples=200) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=2)
    subset = np.sort(np.random.default_rng(0).choice(500, 200, replace=False))
    expected = naive_prdc(reference.astype(np.float32).astype(np.float64)[subset], 0.3 * z, k_pr=3, k_dc=5)
    assert event["coverage"] == pytest.approx(expected["coverage"], abs=1e-12)


@pytest.mark.parametrize(
    "reference, latent_shape, message",
    [
        (np.zeros((10, 3)), 2, "3-d points; the generator makes 2-d"),
        (None, (2, 2, 2), "expected points"),
    ],
)
def test_evaluation_errors_are_one_line(tmp_path, reference, latent_shape, message):
    if isinstance(reference, str):
        reference = tmp_path / reference
    monitor = _monitor(tmp_path / "run", reference=reference, every=None, n_samples=10)
    with monitor, pytest.raises(GanEvalError, match=message):
        monitor.evaluate(0, _Shift(1.0, 0.0), latent_shape=latent_shape)


def test_a_missing_reference_fails_at_construction(tmp_path):
    with pytest.raises(GanEvalError, match=r"missing\.npy does not exist"):
        _monitor(tmp_path / "run", reference=tmp_path / "missing.npy")
    assert not (tmp_path / "run").exists()


def test_non_finite_samples_skip_the_metrics(tmp_path):
    generator = _Shift(float("nan"), 0.0)
    with _monitor(tmp_path, reference=sample_ring8(100), every=None, n_samples=50) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=2)
    assert event["nonfinite_samples"] == 50 and "fid" not in event
    assert [a["rule"] for a in _events(tmp_path, "alarm")] == ["non_finite"]


def test_training_loop_writes_every_kind_of_record(tmp_path):
    with _monitor(tmp_path, reference=sample_ring8(300), every=10, n_samples=200) as monitor:
        train(Config(steps=20), monitor)
    kinds = [e["kind"] for e in read_run(tmp_path).events]
    assert kinds[0] == "session"
    assert kinds.count("scalars") == kinds.count("discriminator") == kinds.count("gradients") == 20
    assert kinds.count("evaluation") == 2
    steps = [e["step"] for e in _events(tmp_path, "evaluation")]
    assert steps == [0, 10]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_00000000.png", "step_00000010.png"]


def test_a_registered_feature_space_by_name(tmp_path, stand_in, monkeypatch):
    """`features="NAME"` loads that registered space's extractor: the same numbers as passing the extractor."""
    from gan_eval.extractors import registry
    from gan_eval.extractors.base import ExtractorSpec
    from gan_eval.feature_types import FEATURES

    spec = ExtractorSpec(
        name="space-a",
        title="a stand-in space",
        extractor=stand_in.name,
        kinds={FEATURES: "pool3"},
        dims={"pool3": 16},
        resize="adaptive-avg-8",
        load=lambda weights, device, precision, progress: stand_in,
    )
    monkeypatch.setitem(registry.EXTRACTORS, "space-a", spec)
    reference = np.random.default_rng(0).integers(0, 256, (120, 3, 16, 16), dtype=np.uint8)
    events = []
    for features, folder in (("space-a", "by-name"), (stand_in, "by-object")):
        torch.manual_seed(0)
        generator = _TinyImageGenerator()
        with _monitor(tmp_path / folder, reference=reference, features=features, every=None, n_samples=100) as m:
            events.append(m.evaluate(0, generator, latent_shape=(8, 1, 1)))
    for key in ("fid", "kid_mean", "precision", "recall", "density", "coverage", "features"):
        assert events[0][key] == events[1][key], key
    unknown = _monitor(tmp_path / "unknown", reference=reference, features="no-such-space", every=None)
    with pytest.raises(GanEvalError, match="a feature space"), unknown as m:
        m.evaluate(0, _TinyImageGenerator(), latent_shape=(8, 1, 1))


def test_image_evaluations_show_progress_on_stderr(tmp_path, stand_in, capsys):
    """Features of generated images are extracted under a progress bar (on stderr, gone when done)."""
    reference = np.random.default_rng(0).integers(0, 256, (40, 3, 16, 16), dtype=np.uint8)
    with Monitor(tmp_path, tensorboard=False, reference=reference, features=stand_in, every=None, n_samples=30) as m:
        m.evaluate(0, _TinyImageGenerator(), latent_shape=(8, 1, 1))
    err = capsys.readouterr().err
    assert "gan-eval monitor: features" in err and "/30" in err
    with _monitor(tmp_path / "quiet", reference=reference, features=stand_in, every=None, n_samples=30) as m:
        m.evaluate(0, _TinyImageGenerator(), latent_shape=(8, 1, 1))
    assert capsys.readouterr().err == ""


# -- metrics and feature spaces from the registries ----------------------------------------------------


@pytest.fixture
def toy_metric():
    """A metric added as the documented walkthrough does (one decorated function, here in the test), removed after.

    `toy_gap`: the distance between the two sets' mean features, with its standard error as the noise key."""

    @register_metric(
        "toy_gap",
        "Toy mean gap",
        lambda options: (Need(REAL, FEATURES, False), Need(FAKE, FEATURES, True)),
        lambda options: {REAL: 2, FAKE: 2},
        keys=(ResultKey("toy_gap", "mean gap", better=LOWER, noise="toy_gap_se"),),
    )
    def _toy_gap(real, fake, options, device):
        features = fake.features[FEATURES]
        gap = float(np.linalg.norm(real.stats[FEATURES].mean() - features.mean(axis=0)))
        return {"toy_gap": gap, "toy_gap_se": float(np.sqrt(features.var(axis=0, ddof=1).sum() / len(features)))}

    try:
        yield "toy_gap"
    finally:
        METRICS.pop("toy_gap", None)


def test_a_registered_metric_is_recorded_and_drawn_with_no_other_edit(tmp_path, toy_metric):
    reference = sample_ring8(600, seed=5)
    with _monitor(tmp_path, reference=reference, every=5, n_samples=300, metrics=["fid", toy_metric]) as monitor:
        events = [monitor.evaluate(step, _Shift(0.5 + 0.1 * step, 0.2), latent_shape=2) for step in (0, 5, 10)]
    z = torch.randn((300, 2), generator=torch.Generator().manual_seed(0)).double().numpy()
    for step, event in zip((0, 5, 10), events, strict=True):
        fake = z * (0.5 + 0.1 * step) + 0.2
        assert event["toy_gap"] == pytest.approx(np.linalg.norm(reference.mean(0) - fake.mean(0)), rel=1e-6)
        assert event["toy_gap_se"] == pytest.approx(np.sqrt(fake.var(0, ddof=1).sum() / 300), rel=1e-6)
        assert event["fid"] == pytest.approx(naive_fid(reference, fake), rel=1e-6)
        assert "kid_mean" not in event and "precision" not in event  # only the metrics named
    session = _events(tmp_path, "session")[0]
    assert list(session["metrics"]) == ["fid", "toy_gap"]
    del METRICS[toy_metric]  # `gan-eval plot` runs in another process: the record alone describes the metric
    record = read_run(tmp_path)
    figure = dashboard_figure(record, tmp_path)
    panel = next(axes for axes in figure.axes if axes.get_label() == "metric toy_gap")
    line = next(line for line in panel.get_lines() if line.get_label() == "mean gap")
    np.testing.assert_array_equal(line.get_ydata(), [e["toy_gap"] for e in events])
    assert panel.get_title().startswith("Toy mean gap") and "lower is better" in panel.get_title()
    assert any(c.get_gid() == "error bars toy_gap_se" for c in panel.collections)
    page = report_html(record, "toy", dashboard_png(record, tmp_path, dpi=30))
    assert "<th>toy_gap</th>" in page and "<th>toy_gap_se</th>" in page


def test_named_metrics_are_checked(tmp_path):
    with pytest.raises(GanEvalError, match=r"unknown metric 'no_such'; choose from fid, "):
        _monitor(tmp_path / "a", metrics=["fid", "no_such"])
    assert not (tmp_path / "a").exists()
    stats = FeatureStats(2)
    stats.update(sample_ring8(100, seed=1))
    for folder, reference, name, message in (
        ("b", stats, "kid", r"Kernel Inception Distance \(kid\) cannot be computed.*a statistics file"),
        ("c", sample_ring8(100), "is", r"needs logits of the samples, which identity does not give"),
    ):
        monitor = _monitor(tmp_path / folder, reference=reference, every=None, n_samples=50, metrics=[name])
        with monitor, pytest.raises(GanEvalError, match=message):
            monitor.evaluate(0, _Shift(1.0, 0.0), latent_shape=2)


class _SpaceStandIn(StandInExtractor):
    """The stand-in network under a registered space's name and head: what that space's loader returns here."""

    def __init__(self, name: str, head: str) -> None:
        super().__init__()
        self.name, self.heads = name, (head,)
        self.kinds, self.dims = {FEATURES: head}, {head: 16}

    def extract(self, images, heads):
        return {self.heads[0]: super().extract(images)["pool3"]}


def test_features_dinov2_vitl14_records_fd_dinov2(tmp_path, monkeypatch):
    """`features="dinov2-vitl14"` evaluates in the registered space of that name, so the recorded `fid` is
    FD_DINOv2. No DINOv2 weights exist here: the space's spec is kept (name, kinds) but loads the stand-in
    network, so this checks the plumbing (the space by name, its loader with the Monitor's device, the record,
    the dashboard), not DINOv2's features (tests/extractors/test_dinov2.py does that)."""
    from gan_eval.extractors.registry import EXTRACTORS

    spec = EXTRACTORS["dinov2-vitl14"]
    network = _SpaceStandIn(spec.extractor, spec.kinds[FEATURES])
    loads = []
    monkeypatch.setitem(EXTRACTORS, spec.name, replace(spec, load=lambda *args: loads.append(args) or network))
    reference = np.random.default_rng(0).integers(0, 256, (120, 3, 16, 16), dtype=np.uint8)
    torch.manual_seed(0)
    generator = _TinyImageGenerator()
    with _monitor(tmp_path, reference=reference, features="dinov2-vitl14", every=None, n_samples=100) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=(8, 1, 1))
    assert len(loads) == 1 and str(loads[0][1]) == "cpu"
    z = torch.randn((100, 8, 1, 1), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake_uint8 = torch.from_numpy(np.rint((generator(z).double().numpy() + 1) * 127.5).astype(np.uint8))
    fake = network.extract(fake_uint8, None)[network.heads[0]].double().numpy()
    real = network.extract(torch.from_numpy(reference), None)[network.heads[0]].double().numpy()
    assert event["features"] == f"dinov2-vitl14 {spec.kinds[FEATURES]}"
    assert event["fid"] == pytest.approx(naive_fid(real, fake), rel=1e-5)
    fid_panel = next(a for a in dashboard_figure(read_run(tmp_path), tmp_path).axes if a.get_label() == "metric fid")
    assert "in dinov2-vitl14" in fid_panel.get_title()


def test_a_feature_function_on_reference_images_goes_through_features_of(tmp_path, monkeypatch):
    """The one door to an input's features: reference images reach a feature function through `features_of`
    (uncached), with the same features as the function applied to them directly."""
    from gan_eval.monitor import reference as reference_module

    calls = []
    real_features_of = reference_module.features_of

    def spy(source, extractor, *args):
        calls.append((extractor, args[-1].feature_cache()))
        return real_features_of(source, extractor, *args)

    monkeypatch.setattr(reference_module, "features_of", spy)

    def grey(images):
        return torch.nn.functional.avg_pool2d(images[:, :1].double(), 4).flatten(1) / 255.0

    reference = np.random.default_rng(0).integers(0, 256, (120, 3, 16, 16), dtype=np.uint8)
    torch.manual_seed(0)
    generator = _TinyImageGenerator()
    with _monitor(tmp_path, reference=reference, features=grey, every=None, n_samples=100) as monitor:
        event = monitor.evaluate(0, generator, latent_shape=(8, 1, 1))
    assert [(extractor.name, cache) for extractor, cache in calls] == [("grey", None)]
    z = torch.randn((100, 8, 1, 1), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake_uint8 = torch.from_numpy(np.rint((generator(z).double().numpy() + 1) * 127.5).astype(np.uint8))
    fake, real = grey(fake_uint8).numpy(), grey(torch.from_numpy(reference)).numpy()
    assert event["fid"] == pytest.approx(naive_fid(real, fake), rel=1e-6)


def test_the_progress_bar_moves_when_n_samples_fits_one_batch(tmp_path, stand_in, capsys):
    """With n_samples <= batch_size (250) the features were one batch, and the bar stayed at 0% until it was
    cleared; now it moves at least ten times."""
    reference = np.random.default_rng(0).integers(0, 256, (40, 3, 16, 16), dtype=np.uint8)
    with Monitor(tmp_path, tensorboard=False, reference=reference, features=stand_in, every=None, n_samples=30) as m:
        m.evaluate(0, _TinyImageGenerator(), latent_shape=(8, 1, 1))
    shown = {int(n) for n in re.findall(r"\b(\d+)/30\b", capsys.readouterr().err)}
    assert {0, 30} < shown and len(shown - {0, 30}) >= 9
