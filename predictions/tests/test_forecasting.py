"""forecast_hourly alone: contract, edge cases, and accuracy against seasonal-naive."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from predictions.forecasting import DAY, WEEK, forecast_hourly

START = datetime(2026, 1, 5, tzinfo=UTC)
ENERGY = 64_285


def check_contract(f, horizon):
    assert len(f.mean) == len(f.lower) == len(f.upper) == horizon
    for lo, m, hi in zip(f.lower, f.mean, f.upper, strict=True):
        assert 0 <= lo <= m <= hi
        assert all(math.isfinite(v) for v in (lo, m, hi))
    assert 0 <= f.total_lower <= f.total_mean <= f.total_upper
    assert f.total_mean == pytest.approx(sum(f.mean))
    assert 0 <= f.day_total_lower <= f.day_total_mean <= f.day_total_upper
    assert f.day_total_mean == pytest.approx(sum(f.mean[:DAY]))


def rhythm(hours, *, rate=20.0, weekend=0.5, seed=0, offset=0):
    rng = np.random.default_rng(seed)
    t = np.arange(offset, offset + hours)
    lam = rate * (1 + 0.8 * np.cos(2 * np.pi * (t % 24 - 14) / 24))
    lam = lam * np.where((t // 24) % 7 >= 5, weekend, 1.0)
    return rng.poisson(lam) * float(ENERGY), lam * ENERGY


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2026, 1, 1), "horizon": 24}, "timezone-aware"),
        ({"start": START, "horizon": 0}, "horizon"),
        ({"start": START, "horizon": 24 * 32}, "horizon"),
        ({"start": START, "horizon": 24, "level": 1.0}, "level"),
        ({"start": START, "horizon": 24, "level": 0}, "level"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        forecast_hourly([1.0] * 100, **kwargs)


@pytest.mark.parametrize("history", [[], [0.0] * 500])
def test_no_use_forecasts_zero(history):
    f = forecast_hourly(history, START, 24)
    check_contract(f, 24)
    assert f.model == "zero"
    assert f.upper == (0.0,) * 24


@pytest.mark.parametrize("hours", [1, 5, 30, 71])
def test_a_new_pool_falls_back_to_its_recent_level_with_a_real_interval(hours):
    history = [3 * ENERGY] * hours
    f = forecast_hourly(history, START, 48)
    check_contract(f, 48)
    assert f.model == "recent_mean"
    assert f.mean[0] == pytest.approx(3 * ENERGY)
    # A handful of identical hours does not make the future certain.
    assert f.upper[0] > 3 * ENERGY > f.lower[0]


def test_gaps_nans_and_negatives_count_as_zero():
    history, _ = rhythm(4 * WEEK)
    history = list(history)
    history[100:110] = [float("nan")] * 10
    history[200] = -5.0
    history[300] = float("inf")
    f = forecast_hourly(history, START, WEEK)
    check_contract(f, WEEK)
    cleaned = list(history)
    for i in [*range(100, 110), 200, 300]:
        cleaned[i] = 0.0
    assert forecast_hourly(cleaned, START, WEEK).mean == f.mean


def test_mostly_zero_sparse_use():
    rng = np.random.default_rng(3)
    history = (rng.random(6 * WEEK) < 0.05) * float(ENERGY)
    f = forecast_hourly(list(history), START, WEEK)
    check_contract(f, WEEK)
    # About one transfer in twenty hours: a week's total near 8.4 transfers.
    assert 3 * ENERGY < f.total_mean < 15 * ENERGY
    assert f.total_lower <= 8.4 * ENERGY <= f.total_upper


def test_daily_rhythm_from_a_short_history():
    history, _ = rhythm(10 * DAY, weekend=1.0)
    f = forecast_hourly(list(history), START, DAY)
    check_contract(f, DAY)
    assert f.model.endswith("/daily")
    mean = np.array(f.mean)
    # Hours are counted from START + 240 h, a midnight: the peak is at 14:00, the trough at 02:00.
    assert 12 <= int(np.argmax(mean)) <= 16
    assert mean[14] > 4 * mean[2]


def test_weekly_rhythm_weekends_are_quieter():
    history, lam = rhythm(6 * WEEK)
    f = forecast_hourly(list(history), START, WEEK)
    assert f.model.endswith("/weekly")
    mean = np.array(f.mean)
    # The history ends on a Monday 00:00: days 5 and 6 of the forecast are the weekend.
    weekday, weekend = mean[: 5 * DAY].sum() / 5, mean[5 * DAY :].sum() / 2
    assert weekend == pytest.approx(weekday * 0.5, rel=0.15)
    assert sum(f.mean) == pytest.approx(lam[:WEEK].sum(), rel=0.06)


@pytest.mark.xfail(
    strict=True,
    reason="known weakness: a tenfold burst in the last day still lifts the same hour next "
    "week by about a third (clipping bounds it, does not remove it; README, Forecasts)",
)
def test_a_spike_does_not_become_the_pattern():
    history, _ = rhythm(6 * WEEK, seed=4)
    plain = forecast_hourly(list(history), START, WEEK)
    spiked = history.copy()
    spiked[-30] += 200 * ENERGY  # ten times the busiest hour
    f = forecast_hourly(list(spiked), START, WEEK)
    check_contract(f, WEEK)
    assert f.mean[WEEK - 30] == pytest.approx(plain.mean[WEEK - 30], rel=0.1)
    assert f.total_mean == pytest.approx(plain.total_mean, rel=0.05)


def test_a_level_shift_is_followed():
    history, lam = rhythm(6 * WEEK, seed=5)
    shifted = history.copy()
    rng = np.random.default_rng(6)
    shifted[-5 * DAY :] = rng.poisson(2 * lam[-5 * DAY :] / ENERGY) * float(ENERGY)
    f = forecast_hourly(list(shifted), START, DAY)
    old = lam[:DAY].sum()  # lam repeats weekly; the next day is a Monday
    # Closer to the new level (2×) than to the old, after five days of it.
    assert 1.5 * old < f.day_total_mean < 2.3 * old


def test_beats_seasonal_naive_and_covers_about_eighty_percent():
    errors, naive, covered = [], [], []
    for seed in range(6):
        series, _ = rhythm(8 * WEEK, rate=5 + 10 * seed, seed=seed)
        for day in range(6 * 7, 8 * 7 - 1):
            origin = day * DAY
            f = forecast_hourly(list(series[:origin]), START, DAY)
            actual = series[origin : origin + DAY]
            errors.append(np.abs(np.array(f.mean) - actual).mean())
            naive.append(np.abs(series[origin - WEEK : origin - WEEK + DAY] - actual).mean())
            inside = (actual >= np.array(f.lower)) & (actual <= np.array(f.upper))
            covered.append(inside.mean())
    assert np.mean(errors) / np.mean(naive) < 0.85
    assert 0.7 <= np.mean(covered) <= 0.92


def test_start_only_needs_to_be_aware():
    history, _ = rhythm(4 * WEEK)
    a = forecast_hourly(list(history), START, 24)
    b = forecast_hourly(list(history), START + timedelta(hours=5), 24)
    assert a.mean == b.mean


@pytest.mark.parametrize("alpha", [0.005, 0.06, 0.35])
def test_level_smoothing_is_statsmodels_simple_exponential_smoothing(alpha):
    from statsmodels.tsa.holtwinters import SimpleExpSmoothing

    from predictions.forecasting import _smooth

    series, _ = rhythm(3 * WEEK)
    x = np.sqrt(series)
    fit = SimpleExpSmoothing(
        x, initialization_method="known", initial_level=float(x[:DAY].mean())
    ).fit(smoothing_level=alpha, optimized=False)
    levels = _smooth(x, alpha)
    np.testing.assert_allclose(levels[1:], fit.level, rtol=1e-9)
    np.testing.assert_allclose(levels[:-1], fit.fittedvalues, rtol=1e-9)
