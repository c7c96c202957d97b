import os
import signal

import pytest

from generator import traffic
from generator.catalog import load_catalog
from generator.simulator import Simulator
from generator.traffic import HOURLY_CURVE, KST_OFFSET_S, SaleSwitch, curve_factor

MIDNIGHT_KST = 1_714_489_200  # 2024-05-01 00:00 KST


def test_curve_is_normalised_to_a_daily_mean_of_one():
    samples = [curve_factor(MIDNIGHT_KST + minute * 60) for minute in range(24 * 60)]
    assert sum(samples) / len(samples) == pytest.approx(1.0, abs=1e-3)


def test_curve_takes_the_hourly_values_and_interpolates_between_them():
    for hour in range(24):
        assert curve_factor(MIDNIGHT_KST + hour * 3600) == pytest.approx(HOURLY_CURVE[hour])
    half_past_nine = curve_factor(MIDNIGHT_KST + 9.5 * 3600)
    assert half_past_nine == pytest.approx((HOURLY_CURVE[9] + HOURLY_CURVE[10]) / 2)
    assert curve_factor(MIDNIGHT_KST + 23.5 * 3600) == pytest.approx(
        (HOURLY_CURVE[23] + HOURLY_CURVE[0]) / 2
    )


def test_curve_is_korean_time_with_an_evening_peak_and_a_night_trough():
    assert (MIDNIGHT_KST + KST_OFFSET_S) % 86400 == 0
    assert max(range(24), key=HOURLY_CURVE.__getitem__) == 21
    assert HOURLY_CURVE[21] > 5 * HOURLY_CURVE[4]


def _events_per_hour(sale: SaleSwitch, hours: int) -> list[int]:
    # 0.1 events/s at speed 1: about 360 events in an average simulated hour.
    sim = Simulator(load_catalog(), seed=5, start=MIDNIGHT_KST, rate=0.1, sale=sale)
    counts = [0] * hours
    while sim.now < MIDNIGHT_KST + hours * 3600:
        sim.step()
        hour = int((sim.now - MIDNIGHT_KST) // 3600)
        if hour < hours:
            counts[hour] += 1
    return counts


def test_generated_traffic_follows_the_curve():
    counts = _events_per_hour(SaleSwitch(), 24)
    for hour in (4, 12, 21):
        expected = 360 * (HOURLY_CURVE[hour] + HOURLY_CURVE[hour + 1]) / 2
        assert counts[hour] == pytest.approx(expected, rel=0.05)


def test_sale_mode_multiplies_the_traffic():
    normal = _events_per_hour(SaleSwitch(), 2)
    sale = _events_per_hour(SaleSwitch(on=True, multiplier=10), 2)
    assert sum(sale) == pytest.approx(10 * sum(normal), rel=0.02)


def test_sale_switch_follows_its_flag_file(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(traffic.time, "monotonic", lambda: clock[0])
    flag = tmp_path / "sale"
    switch = SaleSwitch(flag_file=flag)
    switch.poll()
    assert not switch.on and switch.factor == 1.0
    flag.touch()
    switch.poll()
    assert not switch.on, "checked at most once a second"
    clock[0] += 1.0
    switch.poll()
    assert switch.on and switch.factor == 10.0
    flag.unlink()
    clock[0] += 1.0
    switch.poll()
    assert not switch.on


def test_sigusr1_toggles_sale_mode():
    switch = SaleSwitch()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        switch.listen_for_signal()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert switch.on
        os.kill(os.getpid(), signal.SIGUSR1)
        assert not switch.on
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_sale_multiplier_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        SaleSwitch(multiplier=0.5)
