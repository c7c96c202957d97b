"""The autoscaler's policy (sdp/platform/autoscale.py): when it adds or removes a worker."""

import pytest
from typer.testing import CliRunner

from sdp.cli import app
from sdp.platform.autoscale import Policy, Reading, decide

POLICY = Policy(min_workers=1, max_workers=3, lag_high=1000, lag_low=100, sustain=60, idle=120,
                cooldown=90)  # fmt: skip


def readings(lags: list[float | None], workers: int = 1, step: float = 15) -> list[Reading]:
    return [Reading(i * step, lag, workers) for i, lag in enumerate(lags)]


def change(lags, workers=1, last_change=-1e9) -> int:
    history = readings(lags, workers)
    return decide(POLICY, history, last_change, history[-1].at).change


def test_a_sustained_growing_backlog_adds_a_worker():
    assert change([2000, 3000, 4000, 5000, 6000]) == +1  # above 1000 for 60 s (5 readings)


def test_a_short_burst_or_a_draining_backlog_adds_none():
    assert change([0, 0, 3000, 4000, 5000]) == 0  # only 30 s above
    assert change([9000, 8000, 6000, 4000, 2000]) == 0  # above, but shrinking
    assert change([2000, 3000, None, 4000, 5000]) == 0  # a missing reading breaks the run


def test_too_little_history_decides_nothing():
    assert change([5000, 6000, 7000]) == 0  # 30 s of readings cannot show 60 s of overload


def test_a_sustained_small_backlog_removes_one_but_never_the_last():
    idle = [50] * 9  # below 100 for 120 s
    assert change(idle, workers=2) == -1
    assert change(idle, workers=1) == 0
    assert change([500, *[50] * 8], workers=2) == 0  # only 105 s below


def test_the_most_workers_and_the_cooldown_hold_it():
    assert change([2000, 3000, 4000, 5000, 6000], workers=3) == 0
    assert change([2000, 3000, 4000, 5000, 6000], last_change=30) == 0  # 30 s after a change
    assert change([2000, 3000, 4000, 5000, 6000], last_change=-30) == +1  # 90 s after


def test_between_the_thresholds_it_holds_steady():
    assert change([500] * 20, workers=2) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--min", "0"], "min_workers 0"),
        (["--min", "3", "--max", "2"], "max_workers 2"),
        (["--lag-low", "5000", "--lag-high", "1000"], "lag_low 5000"),
        (["--cooldown", "-1"], "cooldown -1"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(args, named):
    cli = ["platform", "autoscale", "--profile", "scaling", "--pool", "sdp-scaling-worker", *args]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 1
    assert named in result.output
