"""Hourly energy forecasts with prediction intervals: a pure function, no database.

`forecast_hourly(history, start, horizon, level=0.8)` forecasts the energy a pool will use in
each of the next `horizon` hours from its hourly history (`history[i]` is the energy used in the
hour beginning `start + i` hours, UTC).

The model (README "Forecasts") is multiplicative, `use(hour) = level(day) × profile(phase)`:

1. Cleaning: non-finite and negative hours count as zero; the last `MAX_HISTORY_HOURS` whole
   days (aligned to the end) are kept. Isolated bursts and dips are clipped for fitting
   (`_clip_spikes`: against the same phase's median over recent seasons moved by a 48-hour
   running median, on the square-root scale where Poisson-like noise has a level-independent
   spread); the scores and intervals use the real hours.
2. Profile (`_profile`): each hour's use relative to its local level (a centred moving mean
   over one season), summed per phase of the week (ratio of sums: the Poisson estimate) over
   all weeks, days that are far off their expected total (a holiday, a sync gap) left out.
   The 168-hour profile is shrunk towards hour-of-day × day-of-week, and the hour-of-day
   shape towards flat, by how much of their spread is sampling noise (James-Stein): a quiet
   pool gets a smooth pattern, a busy one its own.
3. Level: the deseasonalised daily level `r[d] = use of day d / profile's share of day d` is
   tracked by robust Holt filters (Gelper, Fried & Croux 2010, "Robust forecasting with
   exponential and Holt-Winters smoothing"): innovations beyond `HUBER_K` robust standard
   deviations are clipped, so one odd day (a holiday, a burst) hardly moves the level, while
   `SHIFT_DAYS` odd days on the same side in a row are a level shift and restart the level
   there. Without clipping the filter is statsmodels' Holt (damped); the tests check it.
4. Rolling-origin backtest over the whole history (one origin per day after a week's
   warm-up): each candidate filter (`LEVEL_CANDIDATES`: smoothing weights, with and without a
   damped trend) forecasts the next day's and the next week's totals; candidates are combined
   with weights ∝ 1/error² (one more than 1.3× the best's error gets none).
5. Intervals are split-conformal from the same backtest, out of sample (the profile left one
   week out for the hours of that week), with the finite-sample rank correction counted in
   the units that are exchangeable, not in hours: hourly bounds from the quantiles of the
   square-root residuals (the first day apart from the rest; the units are the backtest's
   origins, whose hours share one level error); the horizon's total and the first day's
   total from the relative errors of the backtest's totals of the same length (not the hourly
   bounds summed; the units are the windows that do not overlap: for a week in eight weeks,
   seven, too few for two 10 % tails, so the bound is on the absolute error, the 7th of 7).
   Both are widened by the current level's uncertainty beyond the backtest's typical one
   (`_excess_level_sd`): a level just restarted after a shift rests on two days, and an odd
   last day may be a shift or a one-off, not yet known (Laplace's rule over the history's odd
   runs gives the chance).

Short histories fall back: under `MIN_DAILY_HOURS` the recent mean level with an empirical
interval; under `MIN_WEEKLY_HOURS` a daily profile only. A history of zeros forecasts zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from scipy import stats

DAY = 24
WEEK = 168
# Eight weeks: enough seasons for a robust weekly profile; more only costs time.
MAX_HISTORY_HOURS = 8 * WEEK
MAX_HORIZON_HOURS = 31 * DAY
MIN_DAILY_HOURS = 3 * DAY
MIN_WEEKLY_HOURS = 3 * WEEK
# Hours further than this many robust standard deviations from expected are clipped for fitting.
SPIKE_WIDTH = 4.0
LOCAL_LEVEL_HOURS = 48
PROFILE_SEASONS = {DAY: 7, WEEK: 4}
# A day whose total is further than this many robust standard deviations off is left out of
# the profile.
ANOMALY_WIDTH = 4.0
# Robust filter: innovations clipped at HUBER_K robust standard deviations; SHIFT_DAYS clipped
# days in a row on the same side restart the level.
HUBER_K = 2.0
SHIFT_DAYS = 2
# (α, β) of the robust Holt filters on the daily level; β = 0 is simple exponential smoothing.
LEVEL_CANDIDATES = ((0.05, 0.0), (0.15, 0.0), (0.35, 0.0), (0.7, 0.0), (0.15, 0.1), (0.35, 0.1))
DAMPING = 0.9
WARMUP_DAYS = 7
# Fewer backtest totals than this: the total's interval is Student's t over their RMS.
MIN_ORIGINS = 8

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
    if y.size < MIN_DAILY_HOURS:
        return _recent_mean(np.sqrt(y), horizon, level)
    y = y[y.size % DAY :]  # whole days, aligned to the end
    period = WEEK if y.size >= MIN_WEEKLY_HOURS else DAY
    with np.errstate(divide="ignore", invalid="ignore"):
        return _seasonal(y, period, horizon, level)


def _recent_mean(z: Array, horizon: int, level: float) -> HourlyForecast:
    """Too short for a season (`z` on the square-root scale): the last day's mean level; the
    interval from its spread."""
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
    mean = zhat**2 + variance
    lo = np.full(horizon, lo_q * widen)
    hi = np.full(horizon, hi_q * widen)
    lower = np.maximum(zhat + lo, 0.0) ** 2
    upper = np.maximum(zhat + hi, 0.0) ** 2
    day = min(DAY, horizon)
    return _finish(
        mean,
        lower,
        upper,
        "recent_mean",
        level,
        _independent_total(zhat, lo, hi, mean, level),
        _independent_total(zhat[:day], lo[:day], hi[:day], mean[:day], level),
    )


def _seasonal(y: Array, period: int, horizon: int, level: float) -> HourlyForecast:
    n = y.size
    days = n // DAY
    clean = _clip_spikes(np.sqrt(y), period) ** 2
    local = _local_mean(clean, period)
    profile, profile_loo = _profile(clean, local, period)

    # The daily level series: each day's (clipped) use over the profile's share of that day.
    shares = _tile_to_end(profile, n).reshape(days, DAY).sum(axis=1)
    used = clean.reshape(days, DAY).sum(axis=1)
    r = np.where(shares > 0, used / np.maximum(shares, 1e-12), 0.0)
    scale = _innovation_scale(r)

    warm = min(WARMUP_DAYS, max(1, days // 3))
    origins = np.arange(warm, days)  # origin d: known are days before d
    lead_days = -(-horizon // DAY)
    # Selection scores the next day's and the next week's (or horizon's, if shorter) totals.
    select_days = min(lead_days, 7)
    steps = np.cumsum(DAMPING ** np.arange(1, max(lead_days, 7) + 1))

    paths_bt: list[Array] = []  # per candidate: origins × lead days, the level per hour
    finals: list[Array] = []
    errors: list[float] = []
    variances: list[Array] = []
    for alpha, beta in LEVEL_CANDIDATES:
        levels, slopes, variance = _robust_holt_state(r, alpha, beta, DAMPING, scale)
        variances.append(variance)
        path = levels[origins, None] + slopes[origins, None] * steps[None, :]
        paths_bt.append(path)
        finals.append(levels[-1] + slopes[-1] * steps)
        errors.append(_selection_error(path, shares, used, origins, select_days))
    best = min(errors)
    raw_weights = [1 / max(e, 1e-12) ** 2 if e <= 1.3 * best + 1e-12 else 0.0 for e in errors]
    weights = np.asarray(raw_weights) / sum(raw_weights)
    path_bt = np.asarray(sum(w * p for w, p in zip(weights, paths_bt, strict=True)))
    final = np.asarray(sum(w * f for w, f in zip(weights, finals, strict=True)))
    path_bt = np.maximum(path_bt, 0.0)
    final = np.maximum(final, 0.0)
    level_sd = _excess_level_sd(
        np.asarray(sum(w * v for w, v in zip(weights, variances, strict=True))),
        origins,
        scale,
        float(final[0]),
    )

    # Bursts (and gaps) are clipped out of the level; they still happen: the mean carries
    # them at the history's rate (its use over its clipped use).
    burst = float(y.sum()) / max(float(clean.sum()), 1e-12)
    path_bt = path_bt * burst
    final = final * burst
    hours = np.arange(horizon)
    mean = final[hours // DAY] * profile[hours % period]

    # Out-of-sample backtest hours (the profile without the week they fall in).
    lo, hi = _hourly_bounds(y, path_bt, profile_loo, origins, horizon, level)
    zhat = np.sqrt(mean)
    lo, hi = _widen(lo, hi, zhat * level_sd / 2, level)
    lower = np.minimum(np.maximum(zhat + lo, 0.0) ** 2, mean)
    upper = np.maximum(np.maximum(zhat + hi, 0.0) ** 2, mean)

    total = _backtest_total(
        y, path_bt, profile_loo, origins, horizon, mean, zhat, lo, hi, level, level_sd
    )
    day = min(DAY, horizon)
    day_total = _backtest_total(
        y,
        path_bt,
        profile_loo,
        origins,
        day,
        mean[:day],
        zhat[:day],
        lo[:day],
        hi[:day],
        level,
        level_sd,
    )
    trend = any(w > 0 and beta > 0 for w, (_, beta) in zip(weights, LEVEL_CANDIDATES, strict=True))
    name = f"profile×level{'+trend' if trend else ''}/{'weekly' if period == WEEK else 'daily'}"
    return _finish(mean, lower, upper, name, level, total, day_total)


def _selection_error(
    path: Array, shares: Array, used: Array, origins: NDArray[np.int64], days: int
) -> float:
    """Mean absolute error of the backtest's next-day totals plus that of its next `days`
    days' totals per day (the clipped use), over the origins where they are known."""
    n_days = shares.size
    one = path[:, 0] * shares[origins] - used[origins]
    score = float(np.mean(np.abs(one)))
    if days > 1:
        ok = origins + days <= n_days
        if ok.any():
            idx = origins[ok, None] + np.arange(days)[None, :]
            predicted = np.sum(path[ok, :days] * shares[idx], axis=1)
            actual = np.sum(used[idx], axis=1)
            score += float(np.mean(np.abs(predicted - actual))) / days
    return score


def _backtest_matrix(
    y: Array, path: Array, profile_loo: Array, origins: NDArray[np.int64], length: int
) -> tuple[Array, Array]:
    """Predicted and actual hours of the backtest, origins × `length`, NaN past the end."""
    n = y.size
    hours = origins[:, None] * DAY + np.arange(length)[None, :]
    inside = hours < n
    safe = np.where(inside, hours, 0)
    lead = np.minimum(np.arange(length) // DAY, path.shape[1] - 1)
    predicted = path[:, lead] * profile_loo[safe]
    predicted = np.where(inside, predicted, np.nan)
    actual = np.where(inside, y[safe], np.nan)
    return predicted, actual


def _hourly_bounds(
    y: Array,
    path: Array,
    profile_loo: Array,
    origins: NDArray[np.int64],
    horizon: int,
    level: float,
) -> tuple[Array, Array]:
    """Per forecast hour, the conformal bounds of the square-root residual: the first day's
    from the backtest's first days, the later hours' from its days 2-7. The exchangeable
    units are the backtest's origins (an origin's hours share its level's error), so the
    conformal rank correction counts origins, not hours."""
    length = min(max(horizon, DAY), WEEK)
    predicted, actual = _backtest_matrix(y, path, profile_loo, origins, length)
    residuals = np.sqrt(actual) - np.sqrt(np.maximum(predicted, 0.0))
    lo = np.empty(horizon)
    hi = np.empty(horizon)
    first = residuals[:, :DAY]
    first_units = int(np.isfinite(first).any(axis=1).sum())
    lo[:DAY], hi[:DAY] = _conformal(first[np.isfinite(first)], level, first_units)
    if horizon > DAY:
        rest = residuals[:, DAY:]
        units = int(np.isfinite(rest).any(axis=1).sum())
        rest = rest[np.isfinite(rest)]
        if rest.size < DAY:
            rest, units = first[np.isfinite(first)], first_units
        lo[DAY:], hi[DAY:] = _conformal(rest, level, units)
    return lo, hi


def _backtest_total(
    y: Array,
    path: Array,
    profile_loo: Array,
    origins: NDArray[np.int64],
    length: int,
    mean: Array,
    zhat: Array,
    lo: Array,
    hi: Array,
    level: float,
    level_sd: float = 0.0,
) -> tuple[float, float, float]:
    """The total of the first `length` forecast hours with its interval, from the backtest's
    relative errors of totals of the same length (falling back to the longest shorter
    whole-day length with MIN_ORIGINS of them: a total's relative error changes little with
    its length). Origins a day apart overlap, so the errors count as the m non-overlapping
    windows that fit in the same days: with enough of those for two split-conformal tails,
    the conformal bounds; with enough for one bound on the absolute error
    (⌈(m+1)·level⌉ ≤ m), that bound (`_absolute_conformal`); with fewer, Student's t over
    the errors' RMS with m-1 degrees of freedom; with no backtest at all, the hours' spreads
    as if independent. `level_sd` (the current level's extra relative uncertainty) is added
    in quadrature."""
    total = float(mean.sum())
    n = y.size
    span = length
    while True:
        complete = origins[origins * DAY + span <= n]
        if complete.size >= MIN_ORIGINS or span <= DAY:
            break
        span = max(DAY, span - DAY * max(1, span // (2 * DAY)))
    if complete.size < 2:
        return _independent_total(zhat, lo, hi, mean, level)
    rows = np.searchsorted(origins, complete)
    predicted, actual = _backtest_matrix(y, path[rows], profile_loo, complete, span)
    p = predicted.sum(axis=1)
    a = actual.sum(axis=1)
    relative = (a - p) / np.maximum(p, 0.25 * float(np.mean(p)) + 1e-12)
    effective = (complete.size * DAY + span - DAY) // span
    if math.ceil((effective + 1) * (1 + level) / 2) <= effective:
        q_lo, q_hi = _conformal(relative, level)
    elif math.ceil((effective + 1) * level) <= effective:
        q_hi = _absolute_conformal(relative, span // DAY, level)
        q_lo = -q_hi
    else:
        rms = float(np.sqrt(np.mean(relative**2)))
        t = float(stats.t.ppf((1 + level) / 2, df=max(1, effective - 1)))
        q_lo, q_hi = -t * rms, t * rms
    # The level's extra uncertainty now (see _excess_level_sd) is shared by every hour.
    (q_lo,), (q_hi,) = _widen(np.array([q_lo]), np.array([q_hi]), np.array([level_sd]), level)
    lower = max(0.0, total * (1 + q_lo))
    upper = total * (1 + q_hi)
    return total, min(lower, total), max(upper, total)


def _absolute_conformal(relative: Array, stride: int, level: float) -> float:
    """Split-conformal bound on |relative error| from windows that do not overlap: the
    ⌈(m+1)·level⌉-th smallest of the m windows' absolute errors (coverage ≥ level for
    exchangeable windows), computed for each of the `stride` ways of picking every
    `stride`-th origin and averaged over those that have enough windows."""
    bounds = []
    for phase in range(max(1, stride)):
        scores = np.sort(np.abs(relative[phase :: max(1, stride)]))
        rank = math.ceil((scores.size + 1) * level)
        if rank <= scores.size:
            bounds.append(float(scores[rank - 1]))
    return float(np.mean(bounds)) if bounds else float(np.max(np.abs(relative)))


def _independent_total(
    zhat: Array, lo: Array, hi: Array, mean: Array, level: float
) -> tuple[float, float, float]:
    """Without backtest totals: the hours' square-root spreads as if independent (normal)."""
    total = float(mean.sum())
    z_level = float(stats.norm.ppf((1 + level) / 2))
    sd_z = (hi - lo) / 2 / z_level
    # Var(y) for y = z², z ~ N(ẑ, s²): 4ẑ²s² + 2s⁴.
    sd = float(np.sqrt(np.sum(4 * zhat**2 * sd_z**2 + 2 * sd_z**4)))
    return total, max(0.0, total - z_level * sd), total + z_level * sd


def _conformal(residuals: Array, level: float, units: int | None = None) -> tuple[float, float]:
    """Split-conformal bounds: the ⌊(u+1)(1-level)/2⌋-th and ⌈(u+1)(1+level)/2⌉-th of u
    exchangeable units (clamped to the sample), never excluding zero. With `units` = None
    every residual is a unit (the exact order statistics); with fewer units than residuals
    (an hour's residuals come in days that share the level's error) the same ranks are
    taken as fractions of the units and read off the residuals' quantiles, so the finite-
    sample correction is that of the units actually exchangeable, not of the hours."""
    m = residuals.size
    if m == 0:
        return 0.0, 0.0
    ordered = np.sort(residuals)
    u = m if units is None else min(max(units, 2), m)
    k_lo = max(1, math.floor((u + 1) * (1 - level) / 2))
    k_hi = min(u, math.ceil((u + 1) * (1 + level) / 2))
    if u == m:
        low, high = float(ordered[k_lo - 1]), float(ordered[k_hi - 1])
    else:
        low = float(np.quantile(ordered, (k_lo - 1) / (u - 1)))
        high = float(np.quantile(ordered, (k_hi - 1) / (u - 1)))
    return min(low, 0.0), max(high, 0.0)


def _finish(
    mean: Array,
    lower: Array,
    upper: Array,
    model: str,
    level: float,
    total: tuple[float, float, float],
    day_total: tuple[float, float, float],
) -> HourlyForecast:
    mean = np.maximum(mean, 0.0)
    lower = np.clip(lower, 0.0, mean)
    upper = np.maximum(upper, mean)
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


def _quantiles(residuals: Array, level: float) -> tuple[float, float]:
    flat = residuals.ravel()
    lo = float(np.quantile(flat, (1 - level) / 2))
    hi = float(np.quantile(flat, (1 + level) / 2))
    return min(lo, 0.0), max(hi, 0.0)


def _robust_holt(
    r: Array, alpha: float, beta: float, phi: float, scale: float, k: float = HUBER_K
) -> tuple[Array, Array]:
    """The levels and slopes of `_robust_holt_state`."""
    levels, slopes, _ = _robust_holt_state(r, alpha, beta, phi, scale, k)
    return levels, slopes


def _robust_holt_state(
    r: Array, alpha: float, beta: float, phi: float, scale: float, k: float = HUBER_K
) -> tuple[Array, Array, Array]:
    """Robust damped Holt filter on the daily level `r` (Gelper, Fried & Croux 2010): element d
    of the returned levels and slopes is the state known before day d (element len(r): after
    the last day); the forecast h days ahead of it is level + (φ + … + φʰ)·slope.

    Each day's innovation is clipped at ±k·scale; SHIFT_DAYS clipped days in a row on the
    same side are a level shift: the level restarts at their mean, the slope at zero.
    With k = ∞ this is statsmodels' Holt(damped_trend=True) with the given α, β, φ.

    The third array is the level's variance in units of a day's noise variance (scale²), known
    before day d: it starts at 1/(the days the first level is taken from), each ordinary day
    makes it (1-α)²·v + α² (steady state α/(2-α)), a clipped day teaches nothing (v stays) and
    a restart makes it 1/SHIFT_DAYS: a level just restarted rests on two days."""
    n = r.size
    levels = np.empty(n + 1)
    slopes = np.empty(n + 1)
    variance = np.empty(n + 1)
    first = min(WARMUP_DAYS, n)
    lvl = float(np.median(r[:first]))
    slope = 0.0
    v = 1.0 / max(first, 1)
    levels[0], slopes[0], variance[0] = lvl, slope, v
    bound = k * scale
    run = 0  # clipped days in a row, signed by their side
    runs = shifts = 0  # odd runs that ended, and those of them that were shifts
    for d in range(n):
        predicted = lvl + phi * slope
        error = float(r[d]) - predicted
        pending = 0.0
        if abs(error) > bound:
            side = 1 if error > 0 else -1
            if run * side < 0:
                runs += 1
            run = run + side if run * side > 0 else side
            if abs(run) >= SHIFT_DAYS:
                lvl, slope, run = float(np.mean(r[d + 1 - SHIFT_DAYS : d + 1])), 0.0, 0
                runs, shifts = runs + 1, shifts + 1
                v = 1.0 / SHIFT_DAYS
                levels[d + 1], slopes[d + 1], variance[d + 1] = lvl, slope, v
                continue
            error = side * bound
            # Unresolved: a shift (the level is where the odd days are) with the chance
            # the history's odd runs give (Laplace's rule), else a one-off.
            chance = (shifts + 1) / (runs + 2)
            distance = (float(np.mean(r[d + 1 - abs(run) : d + 1])) - predicted) / scale
            pending = chance * (1 - chance) * distance**2
        else:
            if run:
                runs += 1
            run = 0
            v = (1 - alpha) ** 2 * v + alpha**2
        lvl = predicted + alpha * error
        slope = phi * slope + alpha * beta * error
        levels[d + 1], slopes[d + 1], variance[d + 1] = lvl, slope, v + pending
    return levels, slopes, variance


def _excess_level_sd(
    variance: Array, origins: NDArray[np.int64], scale: float, level_now: float
) -> float:
    """The relative standard deviation of the current level's error beyond what the backtest
    saw: the backtest's errors already hold the level's usual uncertainty (its variance at
    the backtest's typical origin, the median); a level that now rests on fewer days than
    usual (just restarted after a shift) or whose last days were odd (a shift or a one-off,
    not yet known) adds the difference, in units of the daily level's noise (`scale`) over
    the level itself."""
    if level_now <= 0 or origins.size == 0:
        return 0.0
    excess = float(variance[-1]) - float(np.median(variance[origins]))
    return math.sqrt(max(excess, 0.0)) * scale / level_now


def _widen(lo: Array, hi: Array, sd: Array | float, level: float) -> tuple[Array, Array]:
    """Bounds `lo` ≤ 0 ≤ `hi` widened by an independent normal error of standard deviation
    `sd` (added in quadrature at the interval's normal quantile)."""
    z = float(stats.norm.ppf((1 + level) / 2))
    extra = (z * np.asarray(sd, dtype=np.float64)) ** 2
    return -np.sqrt(lo**2 + extra), np.sqrt(hi**2 + extra)


def _innovation_scale(r: Array) -> float:
    """A robust standard deviation of the daily level's day-to-day noise: the MAD of its
    differences over √2 (a level shift or an odd day moves only one or two of them)."""
    if r.size < 3:
        return max(float(np.std(r)), 1e-9)
    diffs = np.diff(r)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    floor = 1e-6 * max(float(np.median(np.abs(r))), 1e-9)
    return max(1.4826 * mad / math.sqrt(2), floor)


def _local_mean(x: Array, period: int) -> Array:
    """The centred moving mean over one season (the nearest whole season at either end)."""
    n = x.size
    cs = np.concatenate([[0.0], np.cumsum(x)])
    starts = np.clip(np.arange(n) - period // 2, 0, n - period)
    return np.asarray((cs[starts + period] - cs[starts]) / period, dtype=np.float64)


def _profile(clean: Array, local: Array, period: int) -> tuple[Array, Array]:
    """The profile (one season, mean 1, aligned to end at the history's end) and, per history
    hour, the same profile estimated without that hour's season (for the backtest).

    First pass on every day; days whose total is more than ANOMALY_WIDTH robust standard
    deviations off what that pass expects (a holiday, a gap) are left out of the second."""
    n = clean.size
    weights = np.ones(n)
    first, *_ = _profile_pass(clean, local, weights, period)
    expected = (local * _tile_to_end(first, n)).reshape(-1, DAY).sum(axis=1)
    ratio = clean.reshape(-1, DAY).sum(axis=1) / np.maximum(expected, 1e-12)
    mad = float(np.median(np.abs(ratio - np.median(ratio))))
    if mad > 0:
        odd = np.abs(ratio - np.median(ratio)) > ANOMALY_WIDTH * 1.4826 * mad
        if odd.sum() < ratio.size / 2:
            weights = np.repeat(np.where(odd, 0.0, 1.0), DAY)
    profile, num, den, target, shrink = _profile_pass(clean, local, weights, period)
    # Leave one season out: the same estimate and shrinkage without that season's hours.
    loo = (num.sum(axis=0) - num) / (den.sum(axis=0) - den)
    loo = np.where(np.isfinite(loo), loo, profile[None, :])
    loo = target[None, :] + shrink * (loo - target[None, :])
    loo = loo / np.maximum(loo.mean(axis=1, keepdims=True), 1e-12)
    loo = np.where(np.isfinite(loo), loo, 1.0)
    return profile, loo.ravel()[loo.size - n :]


def _profile_pass(
    x: Array, local: Array, weights: Array, period: int
) -> tuple[Array, Array, Array, Array, float]:
    """One estimate of the profile: per phase, the weighted use over the weighted local level
    (seasons × phases sums, aligned to the end), shrunk towards hour-of-day × day-of-week
    (a weekly profile) or towards flat (a daily one). Returns the profile, the sums, the
    target it was shrunk towards and the shrinkage factor (1 = none)."""
    n = x.size
    pad = (-n) % period
    seasons = (n + pad) // period
    num = np.concatenate([np.zeros(pad), weights * x]).reshape(seasons, period)
    den = np.concatenate([np.zeros(pad), weights * local]).reshape(seasons, period)
    ratios = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    hod, hod_noise = _ratio_of_sums(num.reshape(-1, DAY), den.reshape(-1, DAY), ratios, DAY)
    flat = np.ones(DAY)
    hod, keep = _shrink(hod, hod_noise, flat)
    hod = hod / max(float(hod.mean()), 1e-12)
    if period == DAY:
        return hod, num, den, flat, keep

    days_num = num.reshape(seasons, 7, DAY).sum(axis=(0, 2))
    days_den = (den.reshape(seasons, 7, DAY) * hod[None, None, :]).sum(axis=(0, 2))
    dow = np.where(days_den > 0, days_num / np.where(days_den > 0, days_den, 1.0), 1.0)
    target = (dow[:, None] * hod[None, :]).ravel()
    target = target / max(float(target.mean()), 1e-12)
    week, week_noise = _ratio_of_sums(num, den, ratios, period)
    profile, shrink = _shrink(week, week_noise, target)
    profile = profile / max(float(profile.mean()), 1e-12)
    return profile, num, den, target, shrink


def _ratio_of_sums(num: Array, den: Array, ratios: Array, period: int) -> tuple[Array, float]:
    """Per phase Σ use / Σ level over the rows (a phase with no level: 1), and the mean over
    phases of the sampling variance of that estimate (the rows' ratios' variance / count)."""
    num = num.reshape(-1, period)
    den = den.reshape(-1, period)
    total_den = den.sum(axis=0)
    estimate = np.where(total_den > 0, num.sum(axis=0) / np.where(total_den > 0, total_den, 1), 1)
    r = ratios.reshape(-1, period)
    count = np.sum(np.isfinite(r), axis=0)
    ok = count >= 2
    if not ok.any():
        return np.asarray(estimate, dtype=np.float64), 0.0
    centred = np.where(np.isfinite(r), r - np.nanmean(np.where(ok, r, 0.0), axis=0), 0.0)
    variance = np.sum(centred**2, axis=0)[ok] / (count[ok] - 1) / count[ok]
    return np.asarray(estimate, dtype=np.float64), float(np.mean(variance))


def _shrink(estimate: Array, noise: float, target: Array) -> tuple[Array, float]:
    """James-Stein: keep the share of the estimate's spread around `target` that is not
    sampling noise (`noise`: the estimate's mean sampling variance)."""
    spread = float(np.mean((estimate - target) ** 2))
    if spread <= 0:
        return target.copy(), 0.0
    keep = max(0.0, 1.0 - noise / spread)
    return np.asarray(target + keep * (estimate - target), dtype=np.float64), keep


def _clip_spikes(z: Array, period: int, width: float = SPIKE_WIDTH) -> Array:
    """Clip hours far above or below the expected (`z` on the square-root scale): the same
    phase's median over recent seasons moved by the local level (a 48-hour running median of
    the deviations from it, so a lasting level shift is followed while a burst or a single
    odd day is not). The result shapes the fitted profile and level only."""
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
