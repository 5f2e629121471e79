"""Disproportionality statistics and weekly rises for the signal digest (SPEC §6, §13 and §14 "Digest").

Every product (or ratio class) × coded reaction pair is summarised as a 2×2 table of cases:

    |                 | reaction | other reactions |
    |-----------------|----------|-----------------|
    | product         |    a     |        b        |
    | other products  |    c     |        d        |

From it come the proportional reporting ratio (PRR) with a Yates-corrected chi-square, the reporting
odds ratio (ROR) with its 95 % confidence interval, and the information component (IC) with its lower
credibility bound IC025. A pair is a signal by the criteria of Evans et al. (PRR ≥ 2, chi-square ≥ 4,
a ≥ 3) or when the ROR's lower bound exceeds 1 with a ≥ 3.

References:
- Evans SJW, Waller PC, Davis S. Use of proportional reporting ratios (PRRs) for signal generation from
  spontaneous adverse drug reaction reports. Pharmacoepidemiol Drug Saf 2001;10:483-486.
- Rothman KJ, Lanes S, Sacks ST. The reporting odds ratio and its advantages over the proportional
  reporting ratio. Pharmacoepidemiol Drug Saf 2004;13:519-523 (Woolf's log interval for the ROR).
- Bate A, Lindquist M, Edwards IR, et al. A Bayesian neural network method for adverse drug reaction
  signal generation. Eur J Clin Pharmacol 1998;54:315-321; Norén GN, Hopstadius J, Bate A. Shrinkage
  observed-to-expected ratios for robust and transparent large-scale pattern discovery. Stat Methods
  Med Res 2013;22:57-69 (the shrunk IC and the closed-form IC025 approximation).

Statistics are not rounded, and no value is ever NaN or infinite: anything that cannot be computed, or
would not be finite, is None. Ratios of counts are computed as ratios of integers, so they are correctly
rounded (a PRR of exactly 2 is exactly 2.0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

SIGNAL_MIN_CASES = 3
EVANS_MIN_PRR = 2.0
EVANS_MIN_CHI2 = 4.0
Z_95 = 1.96
RISE_MIN_COUNT = 3
RISE_SIGMAS = 3.0


@dataclass(frozen=True, slots=True)
class Table2x2:
    """A 2×2 table of cases (not reaction rows) for one product × reaction pair."""

    a: int  # cases with the product and the reaction
    b: int  # product, not the reaction
    c: int  # reaction, other products
    d: int  # neither

    def __post_init__(self) -> None:
        if min(self.a, self.b, self.c, self.d) < 0:
            raise ValueError(f"cell counts cannot be negative: {self}")

    @property
    def n(self) -> int:
        """N = a + b + c + d."""
        return self.a + self.b + self.c + self.d


SignalCriterion = Literal["evans", "ror", "ic025"]


class Disproportionality(msgspec.Struct, frozen=True, kw_only=True):
    """The statistics of one table; None where a statistic is undefined or not finite."""

    prr: float | None
    chi2: float | None
    ror: float | None
    ror_lower: float | None
    ror_upper: float | None
    ic: float | None
    ic025: float | None
    signal: bool
    # The criteria met among Evans', the ROR's and the IC025's (SPEC §15); ``signal`` is Evans' or the ROR's.
    signal_criteria: list[SignalCriterion] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rise:
    """This week's count against a Poisson baseline of the weeks before."""

    count: int
    baseline_mean: float
    threshold: float
    rising: bool
    # P(X ≥ count) for X ~ Poisson(baseline_mean): how unlikely this week is under the baseline.
    p_value: float = 1.0


def _finite(compute: Callable[[], float | None]) -> float | None:
    """The computed value, or None when it cannot be computed or is NaN or infinite."""
    try:
        value = compute()
    except (ArithmeticError, ValueError):  # ZeroDivisionError, OverflowError, math domain errors
        return None
    if value is None or not math.isfinite(value):
        return None
    return value


def _prr(t: Table2x2) -> float | None:
    """PRR = (a/(a+b)) / (c/(c+d)) (Evans 2001); None when c = 0 or a row is empty."""
    if t.c == 0 or t.a + t.b == 0 or t.c + t.d == 0:
        return None
    return (t.a * (t.c + t.d)) / ((t.a + t.b) * t.c)


def _chi2(t: Table2x2) -> float | None:
    """Yates-corrected chi-square N·max(0, |ad − bc| − N/2)² / ((a+b)(c+d)(a+c)(b+d)); None when a marginal is 0."""
    marginals = (t.a + t.b) * (t.c + t.d) * (t.a + t.c) * (t.b + t.d)
    if marginals == 0:
        return None
    # Doubled to stay in integers: (|ad − bc| − N/2)² = (2|ad − bc| − N)² / 4.
    excess = max(0, 2 * abs(t.a * t.d - t.b * t.c) - t.n)
    return (t.n * excess * excess) / (4 * marginals)


def _haldane(t: Table2x2) -> tuple[int, int, int, int, int]:
    """The cells, doubled, with the Haldane +0.5 correction when any cell is 0: (2a', 2b', 2c', 2d', 2)."""
    if 0 in (t.a, t.b, t.c, t.d):
        return 2 * t.a + 1, 2 * t.b + 1, 2 * t.c + 1, 2 * t.d + 1, 2
    return t.a, t.b, t.c, t.d, 1


def _ror(t: Table2x2) -> tuple[float | None, float | None, float | None]:
    """ROR = ad/bc with the 95 % interval exp(ln ROR ± 1.96 √(1/a+1/b+1/c+1/d)) (Woolf; Rothman 2004).

    When any cell is 0 every cell gets +0.5 (Haldane), for the ratio and its interval alike.
    """
    a, b, c, d, scale = _haldane(t)
    ror = _finite(lambda: (a * d) / (b * c))  # the doubling cancels out in the ratio
    if ror is None:
        return None, None, None
    se = _finite(lambda: math.sqrt(scale / a + scale / b + scale / c + scale / d))
    if se is None:
        return ror, None, None
    # ROR·exp(∓z·se) is exp(ln ROR ∓ z·se), written so that lower ≤ ROR ≤ upper holds in floating point too.
    lower = _finite(lambda: ror * math.exp(-Z_95 * se))
    upper = _finite(lambda: ror * math.exp(Z_95 * se))
    return ror, lower, upper


def _ic(t: Table2x2) -> tuple[float | None, float | None]:
    """IC = log2((a+0.5)/(E+0.5)), E = (a+b)(a+c)/N, and IC025 ≈ IC − 3.3(a+0.5)^−½ − 2(a+0.5)^−3⁄2.

    The shrunk information component of Bate et al. (1998) / Norén et al. (2013), with Norén's closed-form
    approximation of its 2.5 % credibility bound. None when N = 0.
    """
    n = t.n
    if n == 0:
        return None, None
    # (a+0.5)/(E+0.5) = (2a+1)·N / (2(a+b)(a+c) + N), in integers.
    ic = _finite(lambda: math.log2((2 * t.a + 1) * n / (2 * (t.a + t.b) * (t.a + t.c) + n)))
    if ic is None:
        return None, None
    ic025 = _finite(lambda: ic - 3.3 * (t.a + 0.5) ** -0.5 - 2.0 * (t.a + 0.5) ** -1.5)
    return ic, ic025


def signal_criteria(table: Table2x2, stats: Disproportionality) -> list[SignalCriterion]:
    """The criteria a table meets: Evans (a ≥ 3, PRR ≥ 2, chi-square ≥ 4), the ROR (a ≥ 3, lower bound > 1)
    and the WHO-UMC's IC025 > 0; a None statistic fails its test."""
    met: list[SignalCriterion] = []
    if table.a >= SIGNAL_MIN_CASES:
        prr, chi2 = stats.prr, stats.chi2
        if prr is not None and prr >= EVANS_MIN_PRR and chi2 is not None and chi2 >= EVANS_MIN_CHI2:
            met.append("evans")
        if stats.ror_lower is not None and stats.ror_lower > 1.0:
            met.append("ror")
    if stats.ic025 is not None and stats.ic025 > 0:
        met.append("ic025")
    return met


def poisson_upper_tail(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean), summed exactly from the terms below ``count``."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(-mean)
    below = 0.0
    for k in range(count):
        below += term
        term *= mean / (k + 1)
    return max(0.0, 1.0 - below)


def is_signal(table: Table2x2, stats: Disproportionality) -> bool:
    """A signal: a ≥ 3, PRR ≥ 2 and chi-square ≥ 4 (Evans 2001), or a ≥ 3 and ROR lower bound > 1."""
    return bool({"evans", "ror"}.intersection(signal_criteria(table, stats)))


def measure(table: Table2x2) -> Disproportionality:
    """PRR, Yates chi-square, ROR with its 95 % CI, IC and IC025 of a table, and whether it is a signal."""
    ror, ror_lower, ror_upper = _ror(table)
    ic, ic025 = _ic(table)
    stats = Disproportionality(
        prr=_finite(lambda: _prr(table)),
        chi2=_finite(lambda: _chi2(table)),
        ror=ror,
        ror_lower=ror_lower,
        ror_upper=ror_upper,
        ic=ic,
        ic025=ic025,
        signal=False,
    )
    return msgspec.structs.replace(stats, signal=is_signal(table, stats), signal_criteria=signal_criteria(table, stats))


@dataclass(frozen=True, slots=True)
class MantelHaenszel:
    """The ROR pooled over strata, with its 95 % confidence interval; None where undefined."""

    ror: float | None
    lower: float | None
    upper: float | None


def mantel_haenszel(strata: Sequence[Table2x2]) -> MantelHaenszel:
    """The Mantel-Haenszel ROR over ``strata`` (e.g. one table per indication), with the variance of its log
    by Robins, Breslow and Greenland (Biometrics 1986;42:311-323). Undefined when every stratum lacks the
    products a·d or b·c on one side."""
    r_sum = s_sum = pr = ps_qr = qs = 0.0
    for table in strata:
        n = table.n
        if n == 0:
            continue
        r, s_ = table.a * table.d / n, table.b * table.c / n
        p, q = (table.a + table.d) / n, (table.b + table.c) / n
        r_sum, s_sum = r_sum + r, s_sum + s_
        pr, ps_qr, qs = pr + p * r, ps_qr + p * s_ + q * r, qs + q * s_
    if r_sum == 0 or s_sum == 0:
        return MantelHaenszel(None, None, None)
    ror = r_sum / s_sum
    variance = pr / (2 * r_sum**2) + ps_qr / (2 * r_sum * s_sum) + qs / (2 * s_sum**2)
    half_width = Z_95 * math.sqrt(variance)
    return MantelHaenszel(ror, math.exp(math.log(ror) - half_width), math.exp(math.log(ror) + half_width))


def rise(current: int, previous_weeks: Sequence[int]) -> Rise:
    """This week's count against μ + 3√μ, μ the mean of the weekly counts before (the 12 weeks, zeros included).

    μ + 3√μ is three standard deviations above the mean of a Poisson baseline (variance μ). Rising when
    the count is at least 3 and above the threshold; an empty history gives μ = 0 and a threshold of 0.
    """
    if current < 0 or any(count < 0 for count in previous_weeks):
        raise ValueError("weekly counts cannot be negative")
    mean = sum(previous_weeks) / len(previous_weeks) if previous_weeks else 0.0
    threshold = mean + RISE_SIGMAS * math.sqrt(mean)
    return Rise(
        count=current,
        baseline_mean=mean,
        threshold=threshold,
        rising=current >= RISE_MIN_COUNT and current > threshold,
        p_value=poisson_upper_tail(current, mean),
    )
