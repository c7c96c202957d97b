"""The autoscaler's policy (sdp/platform/autoscale.py): when it adds or removes a worker."""

import pytest
from typer.testing import CliRunner

from sdp.cli import app
from sdp.platform.autoscale import Policy, Reading, decide

POLICY = Policy(min_workers=1, max_workers=3, behind_high=60, behind_low=20, worker_rate=1000,
                sustain=60, idle=120, cooldown=90)  # fmt: skip


def change(lags, rate=1000.0, workers=1, last_change=-1e9, step=15) -> int:
    """The decision after readings `step` seconds apart: lags (records), at `rate` records/s
    arriving (one rate, or one per reading)."""
    rates = rate if isinstance(rate, list) else [rate] * len(lags)
    history = [Reading(i * step, lag, r, workers)
               for i, (lag, r) in enumerate(zip(lags, rates, strict=True))]  # fmt: skip
    return decide(POLICY, history, last_change, history[-1].at).change


GROWING = [70_000, 90_000, 110_000, 130_000, 150_000]  # 70-150 s of traffic behind


def test_falling_further_behind_for_long_enough_adds_a_worker():
    assert change(GROWING) == +1  # over 60 s behind for 60 s (5 readings)


def test_a_short_burst_or_a_shrinking_backlog_adds_none():
    assert change([10_000, 10_000, 110_000, 130_000, 150_000]) == 0  # only 30 s over
    assert change(GROWING[::-1]) == 0  # far behind, but catching up
    assert change([70_000, 90_000, None, 130_000, 150_000]) == 0  # a missing reading breaks it
    assert change(GROWING[2:]) == 0  # 30 s of readings cannot show 60 s of overload


def test_a_big_backlog_at_a_high_rate_is_not_overload():
    # 150,000 records at 10,000 records/s: 15 s behind, a stream that keeps up at that rate
    assert change(GROWING, rate=10_000) == 0


def test_idle_removes_a_worker_if_one_fewer_carries_the_traffic_never_the_last():
    calm = [5_000] * 9  # 5 s behind for 120 s at 1,000 records/s
    assert change(calm, rate=900, workers=2) == -1  # one worker carries 900 records/s
    assert change(calm, rate=[900] * 8 + [1500], workers=2) == 0  # not 1,500
    assert change(calm, rate=900, workers=1) == 0  # the last one stays
    assert change([25_000, *calm[1:]], rate=900, workers=2) == 0  # only 105 s under 20 s behind


def test_the_most_workers_and_the_cooldown_hold_it():
    assert change(GROWING, workers=3) == 0
    assert change(GROWING, last_change=30) == 0  # 30 s after a change
    assert change(GROWING, last_change=-30) == +1  # 90 s after


def test_between_the_thresholds_it_holds_steady():
    assert change([40_000] * 20, workers=2) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--min", "0"], "min_workers 0"),
        (["--min", "3", "--max", "2"], "max_workers 2"),
        (["--behind-low", "90", "--behind-high", "60"], "behind_low 90"),
        (["--cooldown", "-1"], "cooldown -1"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(args, named):
    cli = ["platform", "autoscale", "--profile", "scaling", "--pool", "sdp-scaling-worker", *args]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 1
    assert named in result.output
