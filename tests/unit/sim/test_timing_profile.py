"""The realistic timing profile: its laws, its determinism, its failure shares (pure draws)."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest

from failover.sim.draws import LogNormal, law
from failover.sim.realistic import Realistic, realistic
from failover.sim.state import State
from failover.sim.timing import Draw, TimingError, draw, make_timing
from failover.sim.world_file import WorldError, load_world
from harness.clock import FakeClock
from harness.sim import small_world

N = 20_000


def quantile(xs: list[float], q: float) -> float:
    return sorted(xs)[int(q * (len(xs) - 1))]


def test_sigma_comes_from_median_and_p99() -> None:
    d = LogNormal(5.0, 30.0, 120.0)
    assert d.quantile(0.5) == pytest.approx(5.0)
    assert d.quantile(0.99) == pytest.approx(30.0)
    assert d.sigma == pytest.approx(0.7702, abs=1e-3)  # ln(6) / 2.326


@pytest.mark.parametrize(("median", "p99"), [(5.0, 30.0), (4.0, 30.0), (1.0, 5.0), (2.0, 2.0)])
def test_sampled_median_and_p99_match_the_law(median: float, p99: float) -> None:
    d = LogNormal(median, p99, 4 * p99)
    rng = random.Random(3)
    xs = [d.sample(rng.random()) for _ in range(N)]
    assert statistics.median(xs) == pytest.approx(median, rel=0.04)
    assert quantile(xs, 0.99) == pytest.approx(p99, rel=0.12)
    assert max(xs) <= 4 * p99


def test_the_cut_bounds_every_draw() -> None:
    d = LogNormal(5.0, 30.0, 8.0)
    assert d.sample(0.999999) == 8.0
    assert d.sample(0.0) > 0.0


def test_profile_draws_have_the_default_medians_and_scale() -> None:
    full = realistic({"profile": "realistic"}, seed=1)
    fast = realistic({"profile": "realistic", "time_scale": 0.1}, seed=1)
    attach = [full.draw_nth("attach", "eni-a", n).duration_s for n in range(N // 4)]
    detach = [full.draw_nth("detach", "eni-a", n).duration_s for n in range(N // 4)]
    assert statistics.median(attach) == pytest.approx(5.0, rel=0.08)
    assert statistics.median(detach) == pytest.approx(4.0, rel=0.08)
    # The same draws, ten times shorter: the shapes survive the scale.
    assert [fast.draw_nth("attach", "eni-a", n).duration_s for n in range(50)] == pytest.approx(
        [a * 0.1 for a in attach[:50]])


def test_same_seed_same_sequence_whatever_else_happens() -> None:
    a = realistic({"profile": "realistic"}, seed=7)
    b = realistic({"profile": "realistic"}, seed=7)
    seq_a = [a.draw("attach", "eni-x") for _ in range(5)]
    for i in range(17):  # other resources' transitions do not shift eni-x's draws
        b.draw("detach", f"eni-{i}")
        b.draw("attach", "eni-y")
    assert [b.draw("attach", "eni-x") for _ in range(5)] == seq_a
    c = realistic({"profile": "realistic", "seed": 8}, seed=7)
    assert [c.draw("attach", "eni-x") for _ in range(5)] != seq_a
    assert len({d.duration_s for d in seq_a}) == 5  # a sequence, not one value repeated


def test_failure_and_stuck_shares() -> None:
    prof = realistic({"profile": "realistic", "attach_failure_share": 0.02,
                      "stuck_detach_share": 0.3}, seed=5)
    attaches = [prof.draw_nth("attach", "eni-a", n) for n in range(N)]
    detaches = [prof.draw_nth("detach", "eni-a", n) for n in range(N // 2)]
    assert sum(d.fails for d in attaches) / N == pytest.approx(0.02, abs=0.005)
    assert sum(d.stuck for d in detaches) / (N // 2) == pytest.approx(0.3, abs=0.02)
    assert not any(d.stuck for d in attaches) and not any(d.fails for d in detaches)
    # On by default (2 % each), off when asked
    default = realistic({"profile": "realistic"}, seed=5)
    assert sum(default.draw_nth("attach", "e", n).fails for n in range(N)) / N == pytest.approx(
        0.02, abs=0.005)
    assert sum(default.draw_nth("detach", "e", n).stuck for n in range(N)) / N == pytest.approx(
        0.02, abs=0.005)
    calm = realistic({"profile": "realistic", "attach_failure_share": 0,
                      "stuck_detach_share": 0}, seed=5)
    assert not any(calm.draw_nth("attach", "e", n).fails or calm.draw_nth("detach", "e", n).stuck
                   for n in range(2000))


def test_fixed_numbers_and_explicit_laws_override_defaults() -> None:
    prof = realistic({"profile": "realistic", "command_s": 0.5, "time_scale": 0.5,
                      "attach": {"median_s": 1, "p99_s": 1}}, seed=0)
    assert prof("command", "rec") == 0.25
    assert prof("attach", "eni") == pytest.approx(0.5)
    assert isinstance(prof, Realistic) and prof.laws["detach"] == LogNormal(4.0, 30.0, 120.0)


def test_fixed_profile_keeps_its_numbers_and_scales() -> None:
    t = make_timing({"attach_s": 2.0, "time_scale": 0.1}, seed=0)
    d = draw(t, "attach", "eni")
    assert d.duration_s == pytest.approx(0.2) and d == Draw(d.duration_s)
    assert t("detach", "eni") == 0.0


@pytest.mark.parametrize(("timing", "path"), [
    ({"profile": "realistic", "attach": {"median_s": 5, "p99_s": 2}}, "timing.attach.p99_s"),
    ({"profile": "realistic", "attach": {"p99_s": 2}}, "timing.attach.median_s"),
    ({"profile": "realistic", "detach": {"median_s": 0}}, "timing.detach.median_s"),
    ({"profile": "realistic", "detach": {"median_s": 1, "mean_s": 2}}, "timing.detach.mean_s"),
    ({"profile": "realistic", "detach": 3}, "timing.detach"),
    ({"profile": "realistic", "stuck_detach_share": 1.5}, "timing.stuck_detach_share"),
    ({"profile": "realistic", "attach_failure_share": -0.1}, "timing.attach_failure_share"),
    ({"profile": "realistic", "time_scale": 0}, "timing.time_scale"),
    ({"profile": "realistic", "seed": "x"}, "timing.seed"),
    ({"profile": "realistic", "bogus": 1}, "timing.bogus"),
    ({"profile": "realistic", "attach": {"median_s": 1}, "attach_s": 1}, "timing.attach"),
    ({"profile": "realistic", "qps": {"DescribeNetworkInterfaces": 0}},
     "timing.qps.DescribeNetworkInterfaces"),
    ({"qps": [1]}, "timing.qps"),
    ({"time_scale": -1}, "timing.time_scale"),
])
def test_world_errors_name_the_timing_key(timing: dict[str, Any], path: str) -> None:
    with pytest.raises(WorldError) as info:
        load_world(small_world(timing=timing))
    assert info.value.path == path, str(info.value)


def test_law_parses_defaults() -> None:
    assert law({"median_s": 2, "p99_s": 8}, "x") == LogNormal(2.0, 8.0, 32.0)
    with pytest.raises(TimingError):
        law({"median_s": 2, "p99_s": 8, "max_s": 1}, "x")


def test_the_state_schedules_drawn_outcomes() -> None:
    """A stuck detach waits for a stop; a failing attach is marked to fall back."""
    world = load_world(small_world(timing={"profile": "realistic", "stuck_detach_share": 1.0,
                                           "attach_failure_share": 1.0}))
    st = State(world, clock=FakeClock(1000.0))
    try:
        fate = st.draw("detach", "eni-svc")
        assert fate.stuck and fate.duration_s > 0
        assert st.draw("attach", "eni-svc").fails
    finally:
        st.close()
