"""Hourly energy forecasts with prediction intervals: a pure function, no database.

`forecast_hourly(history, start, horizon, level=0.8)` forecasts the energy a pool will use in
each of the next `horizon` hours from its hourly history (`history[i]` is the energy used in the
hour beginning `start + i` hours, UTC).

How (README "Forecasts"):

1. The history is cleaned (non-finite and negative hours count as zero), capped to the last
   `MAX_HISTORY_HOURS`, and taken to the square root: Poisson-like counts have a variance that
   grows with their level, their square roots one that does not, so errors and intervals are
   comparable across quiet and busy hours.
2. Isolated spikes are clipped for fitting (against a robust same-hour profile, `_clip_spikes`),
   so one burst does not become "the pattern" or move the level.
3. Candidates, each a seasonal shape plus a level:
   - `snaive`: the same hour one season ago (a week when two weeks are known, else a day);
   - `stl`: statsmodels' STL decomposition (season of a week, or a day for short histories)
     gives the shape; the deseasonalised series' level is tracked by statsmodels'
     simple exponential smoothing, with the smoothing weight chosen by backtest;
   - `profile`: the shape as the trimmed mean of the last few seasons (robust to a holiday or
     a burst in one of them), the level again by exponential smoothing.
4. Rolling-origin backtest on the history itself: from daily origins over the last week before
   the end, each candidate (each with each smoothing weight) forecasts what followed, scored
   by the error of its daily sums; candidates are combined with weights ∝ 1/error² (one
   more than 1.3× the best's error gets no weight).
5. Intervals are conformal: the backtest's residuals of the combined forecast (square-root
   scale, split into the first day and the rest) give the central `level` interval; the total
   over the horizon gets its own interval from the backtest's errors of totals and the
   history's week-over-week changes of sums of the same length (`_weekly_changes`).
6. Back on the energy scale the mean adds the residual variance (the square root's bias);
   everything is clipped at zero and ordered lower ≤ mean ≤ upper.

Short histories fall back: under `MIN_DAILY_HOURS` the recent mean level with an empirical
interval; under `MIN_WEEKLY_HOURS` daily seasonality only. A history of zeros forecasts zeros.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal, stats
from statsmodels.tsa.seasonal import STL

DAY = 24
WEEK = 168
# Eight weeks: enough seasons for a robust weekly shape; more only costs time.
MAX_HISTORY_HOURS = 8 * WEEK
MAX_HORIZON_HOURS = 31 * DAY
MIN_DAILY_HOURS = 3 * DAY
MIN_WEEKLY_HOURS = 3 * WEEK
BACKTEST_ORIGINS = 7
SMOOTHING_LEVELS = (0.005, 0.02, 0.06, 0.15)
LEVEL_CLIP = 3.0
LOCAL_LEVEL_HOURS = 48
PROFILE_SEASONS = {DAY: 7, WEEK: 4}

Array = NDArray[np.float64]


@dataclass(frozen=True)
class HourlyForecast:
    """`mean[i]`, `lower[i]`, `upper[i]`: energy in the hour beginning `start + len(history) + i`
    hours; `[lower, upper]` is the central `level` prediction interval. `total_*` are the same
    for the sum over the whole horizon (not the sum of the hourly bounds)."""

    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    model: str
    level: float
    total_mean: float
    total_lower: float
    total_upper: float
    # The same for the first day (the first min(24, horizon) hours).
    day_total_mean: float
    day_total_lower: float
    day_total_upper: float


def forecast_hourly(
    history: Sequence[float], start: datetime, horizon: int, *, level: float = 0.8
) -> HourlyForecast:
    """Forecast the next `horizon` hours after `history` (see the module docstring).

    Raises ValueError for a naive `start`, a horizon outside 1..MAX_HORIZON_HOURS or a level
    outside (0, 1). Never raises for the history's content: empty, all zeros, gaps (zeros),
    NaNs and negatives are all accepted.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise ValueError("horizon must be an integer")
    if not 1 <= horizon <= MAX_HORIZON_HOURS:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON_HOURS}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")

    y = np.asarray(history, dtype=np.float64).ravel()
    y = np.where(np.isfinite(y) & (y > 0), y, 0.0)[-MAX_HISTORY_HOURS:]
    if y.size == 0 or not y.any():
        zeros = (0.0,) * horizon
        return HourlyForecast(zeros, zeros, zeros, "zero", level, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    z = np.sqrt(y)
    if z.size < MIN_DAILY_HOURS:
        return _recent_mean(z, horizon, level)
    period = WEEK if z.size >= MIN_WEEKLY_HOURS else DAY
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _seasonal(z, period, horizon, level)


def _recent_mean(z: Array, horizon: int, level: float) -> HourlyForecast:
    """Too short for a season: the last day's mean level; the interval from its spread."""
    recent = z[-DAY:]
    centre = float(recent.mean())
    residuals = z - centre
    lo_q, hi_q = _quantiles(residuals, level)
    # Few points: widen by the spread a single new hour adds to the sample's, and never claim
    # less than ±half the level's square root (a new pool's first hours say little).
    widen = math.sqrt(1 + 1 / recent.size)
    floor = 0.5 * centre * math.sqrt(DAY / z.size)
    lo_q, hi_q = min(lo_q, -floor), max(hi_q, floor)
    zhat = np.full(horizon, centre)
    variance = float(np.mean(residuals**2))
    return _finish(
        zhat,
        np.full(horizon, lo_q * widen),
        np.full(horizon, hi_q * widen),
        variance,
        "recent_mean",
        level,
        total_errors=None,
        day_errors=None,
    )


def _seasonal(z: Array, period: int, horizon: int, level: float) -> HourlyForecast:
    n = z.size
    clean = _clip_spikes(z, period)
    # The level is tracked on a tighter clip: one odd day (a holiday) must not move it much.
    tight = _clip_spikes(z, period, LEVEL_CLIP)
    lead = min(horizon, WEEK)
    # Origins: daily over the last week of history, each far enough from the end to be scored
    # on `lead` hours and late enough to leave two seasons for fitting before it.
    origins = [n - lead - DAY * j for j in range(BACKTEST_ORIGINS)]
    origins = [o for o in origins if o >= 2 * period]
    if not origins:
        lead = max(1, min(lead, n - 2 * period))
        origins = [n - lead]
    first = min(origins)

    # Backtest shapes are fitted on what was known at the earliest origin only.
    shapes_bt = {
        "stl": _stl_shape(tight[:first], period),
        "profile": _profile_shape(clean[:first], period),
    }
    shapes_now = {"stl": _stl_shape(tight, period), "profile": _profile_shape(clean, period)}

    actual = np.stack([z[o : o + lead] for o in origins])
    predictions: dict[str, Array] = {}
    finals: dict[str, Array] = {}
    steps = np.arange(lead)
    errors: dict[str, float] = {}
    for name in ("stl", "profile"):
        for alpha in SMOOTHING_LEVELS:
            key = f"{name}@{alpha}"
            predictions[key] = _level_forecasts(
                tight, shapes_bt[name], first, origins, steps, alpha
            )
            finals[key] = _level_forecast_end(tight, shapes_now[name], horizon, alpha)
    predictions["snaive"] = np.stack([_snaive(clean[:o], period, lead) for o in origins])
    finals["snaive"] = _snaive(clean, period, horizon)
    for key, p in predictions.items():
        errors[key] = _block_error(p, actual)
    best_error = min(errors.values())
    weights = {
        key: (1 / max(err, 1e-9) ** 2 if err <= 1.3 * best_error + 1e-12 else 0.0)
        for key, err in errors.items()
    }
    total_weight = sum(weights.values())
    weights = {name: w / total_weight for name, w in weights.items()}
    combined_bt = sum(w * predictions[name] for name, w in weights.items())
    zhat = sum(w * finals[name] for name, w in weights.items())
    assert isinstance(combined_bt, np.ndarray)
    assert isinstance(zhat, np.ndarray)

    residuals = actual - combined_bt
    # The square root's bias, measured: what the backtest's squared forecasts missed on average
    # of the clipped hours (a burst in the backtest's window must not raise every hour).
    clean_actual = np.stack([clean[o : o + lead] for o in origins])
    variance = float(np.mean(clean_actual**2 - np.maximum(combined_bt, 0) ** 2))
    variance = min(max(variance, 0.0), float(np.mean(residuals**2)))
    lo = np.empty(horizon)
    hi = np.empty(horizon)
    day_lo, day_hi = _quantiles(residuals[:, :DAY], level)
    lo[:DAY], hi[:DAY] = day_lo, day_hi
    if horizon > DAY:
        rest = residuals[:, DAY:] if lead > DAY else residuals
        rest_lo, rest_hi = _quantiles(rest, level)
        lo[DAY:], hi[DAY:] = rest_lo, rest_hi
    # Totals: the backtest's relative errors of each origin's sum over its `lead` hours.
    bias = variance
    predicted_totals = np.sum(np.maximum(combined_bt, 0) ** 2 + bias, axis=1)
    actual_totals = np.sum(actual**2, axis=1)
    total_errors = np.concatenate(
        [_relative_errors(actual_totals, predicted_totals), _weekly_changes(z, lead)]
    )
    day = min(DAY, lead)
    day_errors = np.concatenate(
        [
            _relative_errors(
                np.sum(actual[:, :day] ** 2, axis=1),
                np.sum(np.maximum(combined_bt[:, :day], 0) ** 2 + bias, axis=1),
            ),
            _weekly_changes(z, day),
        ]
    )
    used = sorted({name.split("@")[0] for name, w in weights.items() if w > 0})
    name = "+".join(sorted(used)) + f"/{'weekly' if period == WEEK else 'daily'}"
    return _finish(
        zhat, lo, hi, variance, name, level, total_errors=total_errors, day_errors=day_errors
    )


def _block_error(predicted: Array, actual: Array) -> float:
    """Mean absolute error of daily sums (energy scale): a level's error shows in sums, where
    an hour's own noise mostly averages out."""
    days = predicted.shape[1] // DAY
    if days == 0:
        return float(np.mean(np.abs(predicted.sum(axis=1) ** 1 - actual.sum(axis=1))))
    cut = days * DAY
    p = (np.maximum(predicted[:, :cut], 0) ** 2).reshape(predicted.shape[0], days, DAY).sum(axis=2)
    a = (actual[:, :cut] ** 2).reshape(actual.shape[0], days, DAY).sum(axis=2)
    return float(np.mean(np.abs(p - a)))


def _finish(
    zhat: Array,
    lo: Array,
    hi: Array,
    variance: float,
    model: str,
    level: float,
    *,
    total_errors: Array | None,
    day_errors: Array | None,
) -> HourlyForecast:
    """Back to the energy scale: mean = ẑ² + bias, bounds (ẑ + q)² clipped at 0 and ordered."""
    zhat = np.maximum(zhat, 0.0)
    mean = zhat**2 + variance
    lower = np.minimum(np.maximum(zhat + lo, 0.0) ** 2, mean)
    upper = np.maximum(np.maximum(zhat + hi, 0.0) ** 2, mean)
    day = min(DAY, zhat.size)
    total = _total_interval(mean, zhat, lo, hi, total_errors, level)
    day_total = _total_interval(mean[:day], zhat[:day], lo[:day], hi[:day], day_errors, level)
    return HourlyForecast(
        mean=tuple(float(v) for v in mean),
        lower=tuple(float(v) for v in lower),
        upper=tuple(float(v) for v in upper),
        model=model,
        level=level,
        total_mean=total[0],
        total_lower=total[1],
        total_upper=total[2],
        day_total_mean=day_total[0],
        day_total_lower=day_total[1],
        day_total_upper=day_total[2],
    )


def _weekly_changes(z: Array, length: int) -> Array:
    """How sums of `length` hours changed from the same hours a week before, relative to their
    typical size, over non-overlapping windows back from the end: the backtest's few origins
    overlap and understate how far a sum can move (a holiday, a level shift), these do not."""
    y = z**2
    ends = range(y.size, WEEK + length - 1, -length)
    changes = [
        float(y[end - length : end].sum() - y[end - WEEK - length : end - WEEK].sum())
        for end in ends
    ]
    if not changes:
        return np.zeros(0)
    scale = max(float(y[-WEEK:].mean()) * length, 1e-9)
    return np.asarray(changes, dtype=np.float64) / scale


def _relative_errors(actual: Array, predicted: Array) -> Array:
    """Errors of sums relative to the backtest's typical predicted sum (a common scale, so a
    window with nothing used does not blow up)."""
    scale = max(float(np.mean(predicted)), 1e-9)
    return np.asarray((actual - predicted) / scale, dtype=np.float64)


def _total_interval(
    mean: Array, zhat: Array, lo: Array, hi: Array, errors: Array | None, level: float
) -> tuple[float, float, float]:
    """The sum's mean and central interval: the backtest's relative errors of sums (their
    quantiles, widened to Student's t over their root mean square when there are few), or,
    without a backtest, the hours' spreads as if independent."""
    total = float(mean.sum())
    if errors is not None and errors.size >= 2:
        rms = float(np.sqrt(np.mean(errors**2)))
        t = float(stats.t.ppf((1 + level) / 2, df=errors.size - 1))
        lower = max(0.0, total * (1 - t * rms))
        upper = total * (1 + t * rms)
    else:
        half = (hi - lo) / 2  # on the square-root scale, about z_level standard deviations
        z_level = float(stats.norm.ppf((1 + level) / 2))
        sd_z = half / z_level
        # Var(y) for y = z², z ~ N(ẑ, s²): 4ẑ²s² + 2s⁴.
        sd = float(np.sqrt(np.sum(4 * zhat**2 * sd_z**2 + 2 * sd_z**4)))
        lower = max(0.0, total - z_level * sd)
        upper = total + z_level * sd
    return total, min(lower, total), max(upper, total)


def _quantiles(residuals: Array, level: float) -> tuple[float, float]:
    flat = residuals.ravel()
    lo = float(np.quantile(flat, (1 - level) / 2))
    hi = float(np.quantile(flat, (1 + level) / 2))
    return min(lo, 0.0), max(hi, 0.0)


def _phase_profile(z: Array, period: int, seasons: int) -> Array:
    """Per phase of the season (aligned to the end of `z`), the trimmed mean of the last
    `seasons` seasons: the lowest and highest dropped when there are four or more."""
    k = min(seasons, z.size // period)
    block = z[z.size - k * period :].reshape(k, period)
    if k >= 4:
        block = np.sort(block, axis=0)[1:-1]
    return np.asarray(block.mean(axis=0), dtype=np.float64)


def _clip_spikes(z: Array, period: int, width: float = 5.0) -> Array:
    """Clip hours far above or below the expected: the same phase's robust profile (median of
    the recent seasons) moved by the local level (a 48-hour running median of the deviations
    from it, so a lasting level shift is followed while a burst or a single odd day is not).
    The result shapes the fitted pattern and level only; scores use the real hours."""
    k = min(PROFILE_SEASONS[period], z.size // period)
    if k < 2:
        return z
    n = z.size
    block = z[n - k * period :].reshape(k, period)
    reference = _tile_to_end(np.median(block, axis=0), n)
    residual = z - reference
    window = min(LOCAL_LEVEL_HOURS, n)
    padded = np.concatenate([np.full(window - 1, residual[0]), residual])
    local = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    expected = reference + local
    deviation = z - expected
    mad = float(np.median(np.abs(deviation - np.median(deviation))))
    positive = z[z > 0]
    # Never tighter than one unit's Poisson spread: half the square root of a small hour.
    floor = 0.5 * float(np.quantile(positive, 0.01)) if positive.size else 0.5
    scale = max(1.4826 * mad, floor)
    return np.asarray(
        np.clip(z, expected - width * scale, expected + width * scale), dtype=np.float64
    )


def _tile_to_end(cycle: Array, n: int) -> Array:
    """`cycle` (one season, its last element the last hour) repeated backwards over n hours."""
    period = cycle.size
    phases = (np.arange(n) - n) % period
    return cycle[phases]


def _stl_shape(z: Array, period: int) -> Array:
    """One season of statsmodels' STL seasonal component, aligned to end at `z`'s end."""
    if z.size < 2 * period:
        return _profile_shape(z, period)
    window = period + 1 if period % 2 == 0 else period
    fit = STL(
        z,
        period=period,
        seasonal=7,
        trend=int(1.5 * window) | 1,
        robust=False,
        seasonal_jump=1,
        trend_jump=max(1, period // 6),
        low_pass_jump=max(1, period // 6),
    ).fit(inner_iter=1)
    seasonal = np.asarray(fit.seasonal, dtype=np.float64)
    return seasonal[-period:]


def _profile_shape(z: Array, period: int) -> Array:
    """The trimmed mean of the recent seasons, centred (its mean is zero)."""
    profile = _phase_profile(z, period, PROFILE_SEASONS[period])
    return np.asarray(profile - profile.mean(), dtype=np.float64)


def _smooth(deseason: Array, alpha: float) -> Array:
    """Simple exponential smoothing with the weight fixed (chosen by the caller's backtest):
    level_t = α·x_t + (1-α)·level_(t-1), started at the first day's mean. Element t is the
    level known before hour t (element n: after the last hour).

    The recursion runs as scipy's linear filter (C) rather than through statsmodels'
    SimpleExpSmoothing, whose Python loop took 80 % of the time: the same numbers
    (predictions/tests/test_forecasting.py checks them against statsmodels), ~100× faster."""
    initial = float(deseason[:DAY].mean())
    level, _ = signal.lfilter([alpha], [1.0, alpha - 1.0], deseason, zi=[(1.0 - alpha) * initial])
    return np.concatenate([[initial], np.asarray(level, dtype=np.float64)])


def _level_forecasts(
    z: Array, shape: Array, shape_end: int, origins: list[int], steps: NDArray[Any], alpha: float
) -> Array:
    """Backtest forecasts from each origin: the level known at the origin plus the shape."""
    period = shape.size
    deseason = z - shape[(np.arange(z.size) - shape_end) % period]
    levels = _smooth(deseason, alpha)
    rows = [levels[o] + shape[(o + steps - shape_end) % period] for o in origins]
    return np.asarray(np.stack(rows), dtype=np.float64)


def _level_forecast_end(z: Array, shape: Array, horizon: int, alpha: float) -> Array:
    period = shape.size
    n = z.size
    deseason = z - shape[(np.arange(n) - n) % period]
    levels = _smooth(deseason, alpha)
    steps = np.arange(horizon)
    return np.asarray(levels[-1] + shape[steps % period], dtype=np.float64)


def _snaive(z: Array, period: int, horizon: int) -> Array:
    """The same phase one season before, repeated."""
    last = z[-period:]
    return np.asarray(last[np.arange(horizon) % period], dtype=np.float64)
