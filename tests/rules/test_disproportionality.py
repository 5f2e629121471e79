"""Disproportionality statistics and weekly rises (SPEC §6, §13 and §14 "Digest").

Expected values are computed by hand from the formulas (written out beside them), not taken from the module.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pv_service.rules.disproportionality import (
    Disproportionality,
    Table2x2,
    is_signal,
    mantel_haenszel,
    measure,
    poisson_upper_tail,
    rise,
    signal_criteria,
)

FLOAT_FIELDS = ("prr", "chi2", "ror", "ror_lower", "ror_upper", "ic", "ic025")


def _stats(
    prr: float | None = None,
    chi2: float | None = None,
    ror_lower: float | None = None,
) -> Disproportionality:
    return Disproportionality(
        prr=prr, chi2=chi2, ror=None, ror_lower=ror_lower, ror_upper=None, ic=None, ic025=None, signal=False
    )


# Hand-computed tables


def test_full_table_gives_prr_yates_chi2_ror_with_ci_and_ic() -> None:
    stats = measure(Table2x2(a=10, b=90, c=20, d=880))
    # N = 1000; PRR = (10/100) / (20/900) = 4.5
    assert stats.prr == pytest.approx(4.5)
    # |ad − bc| = |8800 − 1800| = 7000; minus N/2 = 6500; marginals 100·900·30·970
    assert stats.chi2 == pytest.approx(1000 * 6500**2 / (100 * 900 * 30 * 970))
    assert stats.chi2 == pytest.approx(16.1321, abs=1e-4)
    # ROR = 10·880 / (90·20) = 8800 / 1800
    assert stats.ror == pytest.approx(8800 / 1800)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 10, 90, 20, 880
    lower, upper = 2.219935064, 10.7666368
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    # E = 100·30 / 1000 = 3; IC = log2(10.5 / 3.5) = log2(3)
    assert stats.ic == pytest.approx(math.log2(10.5 / 3.5))
    assert stats.ic == pytest.approx(math.log2(3))
    assert stats.ic025 == pytest.approx(math.log2(3) - 3.3 / math.sqrt(10.5) - 2 / 10.5**1.5)
    assert stats.signal


def test_table_n_is_the_sum_of_the_cells() -> None:
    assert Table2x2(a=10, b=90, c=20, d=880).n == 1000
    assert Table2x2(a=0, b=0, c=0, d=0).n == 0


def test_negative_cells_are_refused() -> None:
    with pytest.raises(ValueError):
        Table2x2(a=-1, b=0, c=0, d=0)


def test_zero_a_gives_prr_zero_and_haldane_corrected_ror() -> None:
    stats = measure(Table2x2(a=0, b=50, c=20, d=930))
    # PRR = (0/50) / (20/950) = 0
    assert stats.prr == 0.0
    # N = 1000; |0·930 − 50·20| = 1000; minus 500 = 500; marginals 50·950·20·980
    assert stats.chi2 == pytest.approx(1000 * 500**2 / (50 * 950 * 20 * 980))
    # a cell is 0: every cell + 0.5
    ror = (0.5 * 930.5) / (50.5 * 20.5)
    assert stats.ror == pytest.approx(ror)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 0.5, 50.5, 20.5, 930.5
    lower, upper = 0.02679503345, 7.537511396
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    # E = 50·20 / 1000 = 1; IC = log2(0.5 / 1.5)
    assert stats.ic == pytest.approx(math.log2(0.5 / 1.5))
    assert stats.ic025 == pytest.approx(-11.90872151)  # IC − 3.3/√0.5 − 2/0.5^1.5
    assert not stats.signal


def test_zero_b_keeps_prr_and_corrects_ror() -> None:
    stats = measure(Table2x2(a=5, b=0, c=20, d=975))
    # PRR = (5/5) / (20/995) = 49.75
    assert stats.prr == pytest.approx(49.75)
    # N = 1000; |5·975 − 0| = 4875; minus 500 = 4375; marginals 5·995·25·975
    assert stats.chi2 == pytest.approx(1000 * 4375**2 / (5 * 995 * 25 * 975))
    ror = (5.5 * 975.5) / (0.5 * 20.5)
    assert stats.ror == pytest.approx(ror)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 5.5, 0.5, 20.5, 975.5
    lower, upper = 28.00690129, 9782.889202
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    # E = 5·25 / 1000 = 0.125
    assert stats.ic == pytest.approx(math.log2(5.5 / 0.625))
    assert stats.signal


def test_zero_c_makes_prr_null_and_corrects_ror() -> None:
    stats = measure(Table2x2(a=5, b=95, c=0, d=900))
    assert stats.prr is None
    # N = 1000; |5·900 − 0| = 4500; minus 500 = 4000; marginals 100·900·5·995
    assert stats.chi2 == pytest.approx(1000 * 4000**2 / (100 * 900 * 5 * 995))
    ror = (5.5 * 900.5) / (95.5 * 0.5)
    assert stats.ror == pytest.approx(ror)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 5.5, 95.5, 0.5, 900.5
    lower, upper = 5.691270231, 1890.326638
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    # E = 100·5 / 1000 = 0.5; IC = log2(5.5 / 1)
    assert stats.ic == pytest.approx(math.log2(5.5))
    # PRR null fails Evans, but the ROR lower bound is above 1 with a = 5
    assert lower > 1
    assert stats.signal


def test_zero_d_keeps_prr_and_corrects_ror() -> None:
    stats = measure(Table2x2(a=5, b=10, c=20, d=0))
    # PRR = (5/15) / (20/20) = 1/3
    assert stats.prr == pytest.approx(1 / 3)
    # N = 35; |0 − 200| = 200; minus 17.5 = 182.5; marginals 15·20·25·10
    assert stats.chi2 == pytest.approx(35 * 182.5**2 / (15 * 20 * 25 * 10))
    ror = (5.5 * 0.5) / (10.5 * 20.5)
    assert stats.ror == pytest.approx(ror)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 5.5, 10.5, 20.5, 0.5
    lower, upper = 0.0006430196248, 0.2538369494
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    # E = 15·25 / 35
    assert stats.ic == pytest.approx(math.log2(5.5 / (15 * 25 / 35 + 0.5)))
    assert not stats.signal


def test_empty_reaction_column_makes_chi2_and_prr_null() -> None:
    stats = measure(Table2x2(a=0, b=10, c=0, d=90))
    assert stats.chi2 is None  # a + c = 0
    assert stats.prr is None  # c = 0
    ror = (0.5 * 90.5) / (10.5 * 0.5)
    assert stats.ror == pytest.approx(ror)
    # E = 10·0 / 100 = 0; IC = log2(0.5 / 0.5) = 0
    assert stats.ic == 0.0
    assert stats.ic025 == pytest.approx(-3.3 * 0.5**-0.5 - 2 * 0.5**-1.5)
    assert not stats.signal


def test_empty_product_row_makes_chi2_and_prr_null() -> None:
    stats = measure(Table2x2(a=0, b=0, c=20, d=80))
    assert stats.chi2 is None  # a + b = 0
    assert stats.prr is None  # a + b = 0
    assert stats.ror == pytest.approx((0.5 * 80.5) / (0.5 * 20.5))
    # E = 0·20 / 100 = 0
    assert stats.ic == 0.0


def test_all_zero_table_has_only_the_haldane_ror() -> None:
    stats = measure(Table2x2(a=0, b=0, c=0, d=0))
    assert stats.prr is None
    assert stats.chi2 is None
    assert stats.ic is None
    assert stats.ic025 is None
    # 0.5·0.5 / (0.5·0.5) = 1, with CI exp(± 1.96·√(4·2))
    assert stats.ror == 1.0
    assert stats.ror_lower == pytest.approx(math.exp(-1.96 * math.sqrt(8)))
    assert stats.ror_upper == pytest.approx(math.exp(1.96 * math.sqrt(8)))
    assert not stats.signal


def test_statistics_are_not_rounded() -> None:
    stats = measure(Table2x2(a=1, b=2, c=3, d=7))
    # PRR = (1/3) / (3/10) = 10/9
    assert stats.prr == 10 / 9


# Signal thresholds (Evans et al. 2001; ROR lower bound)


def test_a_of_three_with_prr_at_two_chi2_four_and_null_ror_is_a_signal() -> None:
    # The thresholds are inclusive; a null ROR bound does not prevent the Evans signal.
    assert is_signal(Table2x2(a=3, b=0, c=59, d=141), _stats(prr=2.0, chi2=4.0))


def test_just_below_an_evans_threshold_is_not_a_signal() -> None:
    table = Table2x2(a=3, b=0, c=59, d=141)
    assert not is_signal(table, _stats(prr=math.nextafter(2.0, 0.0), chi2=4.0))
    assert not is_signal(table, _stats(prr=2.0, chi2=math.nextafter(4.0, 0.0)))


def test_a_null_statistic_fails_its_test() -> None:
    table = Table2x2(a=3, b=0, c=59, d=141)
    assert not is_signal(table, _stats(prr=None, chi2=100.0))
    assert not is_signal(table, _stats(prr=100.0, chi2=None))
    assert not is_signal(table, _stats(prr=1.0, chi2=100.0, ror_lower=None))


def test_ror_lower_bound_must_exceed_one() -> None:
    table = Table2x2(a=3, b=0, c=59, d=141)
    assert not is_signal(table, _stats(ror_lower=1.0))
    assert is_signal(table, _stats(ror_lower=math.nextafter(1.0, 2.0)))


def test_a_of_three_passing_evans_alone_is_a_signal() -> None:
    # PRR = (3/3) / (59/200) = 200/59 ≈ 3.39
    # N = 203; |3·141 − 0| = 423; minus 101.5 = 321.5; marginals 3·200·62·141
    prr = (3 / 3) / (59 / 200)
    chi2 = 203 * 321.5**2 / (3 * 200 * 62 * 141)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 3.5, 0.5, 59.5, 141.5
    lower = 0.8466711026
    assert prr >= 2
    assert chi2 >= 4
    assert lower <= 1  # the ROR criterion alone would not make it a signal
    stats = measure(Table2x2(a=3, b=0, c=59, d=141))
    assert stats.prr == pytest.approx(prr)
    assert stats.chi2 == pytest.approx(chi2)
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.signal


def test_prr_of_exactly_two_with_chi2_above_four_is_a_signal() -> None:
    # PRR = (7/7) / (16/32) = 2 exactly
    # N = 39; |7·16 − 0| = 112; minus 19.5 = 92.5; marginals 7·32·23·16
    chi2 = 39 * 92.5**2 / (7 * 32 * 23 * 16)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 7.5, 0.5, 16.5, 16.5
    lower = 0.790635681
    assert chi2 >= 4
    assert lower <= 1  # only Evans makes it a signal
    stats = measure(Table2x2(a=7, b=0, c=16, d=16))
    assert stats.prr == 2.0
    assert stats.chi2 == pytest.approx(chi2)
    assert stats.signal


def test_chi2_of_exactly_four_with_a_of_three_is_a_signal() -> None:
    # N = 16; |3·11 − 1·1| = 32; minus 8 = 24; 16·24² / (4·12·4·12) = 9216 / 2304 = 4
    stats = measure(Table2x2(a=3, b=1, c=1, d=11))
    assert stats.chi2 == 4.0
    # PRR = (3/4) / (1/12) = 9
    assert stats.prr == pytest.approx(9.0)
    assert stats.signal


def test_a_of_three_with_prr_exactly_two_cannot_reach_chi2_four() -> None:
    # Why the Evans boundary with a = 3 is tested through is_signal: with a = 3 and PRR exactly 2 the
    # Yates chi-square stays below 4 (e.g. (3/4) / (3/8) = 2: N = 12, |15 − 3| − 6 = 6, 12·36 / 1152).
    stats = measure(Table2x2(a=3, b=1, c=3, d=5))
    assert stats.prr == 2.0
    assert stats.chi2 == pytest.approx(12 * 6**2 / (4 * 8 * 6 * 6))
    assert not stats.signal


def test_a_of_two_is_never_a_signal() -> None:
    # PRR = (2/2) / (1/1001) = 1001; chi2 and ROR lower bound far above their thresholds
    stats = measure(Table2x2(a=2, b=0, c=1, d=1000))
    assert stats.prr == pytest.approx(1001.0)
    assert stats.chi2 is not None
    assert stats.chi2 >= 4
    assert stats.ror_lower is not None
    assert stats.ror_lower > 1
    assert not stats.signal
    assert not is_signal(Table2x2(a=2, b=0, c=1, d=1000), _stats(prr=1e9, chi2=1e9, ror_lower=1e9))


def test_ror_lower_bound_above_one_alone_makes_a_signal() -> None:
    # PRR = (300/1000) / (2000/9000) = 1.35 < 2: no Evans signal
    # ROR = 300·7000 / (700·2000) = 1.5 with a narrow interval
    stats = measure(Table2x2(a=300, b=700, c=2000, d=7000))
    assert stats.prr == pytest.approx((300 / 1000) / (2000 / 9000))
    assert stats.prr < 2
    assert stats.ror == pytest.approx(1.5)
    # Woolf's interval by hand: exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)), cells 300, 700, 2000, 7000
    lower, upper = 1.298710202, 1.732488122
    assert stats.ror_lower == pytest.approx(lower)
    assert stats.ror_upper == pytest.approx(upper)
    assert lower > 1
    assert stats.signal


# Weekly rises (Poisson baseline)


def test_rise_threshold_is_mean_plus_three_root_mean() -> None:
    history = [4] * 12
    # μ = 4; threshold = 4 + 3·√4 = 10
    judged = rise(11, history)
    assert judged.count == 11
    assert judged.baseline_mean == 4.0
    assert judged.threshold == 10.0
    assert judged.rising
    assert not rise(10, history).rising


def test_rise_uses_the_mean_of_uneven_weeks() -> None:
    history = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 9]
    # μ = 12 / 12 = 1; threshold = 1 + 3 = 4
    judged = rise(5, history)
    assert judged.baseline_mean == 1.0
    assert judged.threshold == 4.0
    assert judged.rising
    assert not rise(4, history).rising


def test_rise_needs_at_least_three_cases() -> None:
    assert not rise(2, [0] * 12).rising
    assert not rise(2, []).rising
    assert rise(3, [0] * 12).rising


def test_empty_history_has_zero_baseline_and_threshold() -> None:
    judged = rise(3, [])
    assert judged.baseline_mean == 0.0
    assert judged.threshold == 0.0
    assert judged.rising


def test_negative_weekly_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        rise(-1, [])
    with pytest.raises(ValueError):
        rise(3, [1, -1])


# Properties

counts = st.integers(min_value=0, max_value=10**6)
huge_counts = st.one_of(counts, st.integers(min_value=0, max_value=10**400))
tables = st.builds(Table2x2, a=counts, b=counts, c=counts, d=counts)


def test_float_fields_are_the_statistics() -> None:
    assert set(Disproportionality.__struct_fields__) == {*FLOAT_FIELDS, "signal", "signal_criteria"}


@given(st.builds(Table2x2, a=huge_counts, b=huge_counts, c=huge_counts, d=huge_counts))
def test_statistics_are_never_nan_or_infinite(table: Table2x2) -> None:
    stats = measure(table)
    for name in FLOAT_FIELDS:
        value = getattr(stats, name)
        assert value is None or (isinstance(value, float) and math.isfinite(value)), (name, value)


@given(tables)
def test_haldane_correction_always_gives_a_ror(table: Table2x2) -> None:
    stats = measure(table)
    assert stats.ror is not None
    assert stats.ror > 0


@given(counts, counts, st.integers(min_value=1, max_value=10**6), counts, st.integers(min_value=1, max_value=1000))
def test_prr_does_not_decrease_when_a_increases(a: int, b: int, c: int, d: int, step: int) -> None:
    before = measure(Table2x2(a=a, b=b, c=c, d=d)).prr
    after = measure(Table2x2(a=a + step, b=b, c=c, d=d)).prr
    assert after is not None
    if before is not None:
        assert after >= before


@given(tables)
def test_chi2_is_never_negative(table: Table2x2) -> None:
    chi2 = measure(table).chi2
    assert chi2 is None or chi2 >= 0


@given(tables)
def test_ror_lies_within_its_interval(table: Table2x2) -> None:
    stats = measure(table)
    assert stats.ror is not None
    assert stats.ror_lower is not None
    assert stats.ror_upper is not None
    assert stats.ror_lower <= stats.ror <= stats.ror_upper


@given(tables)
def test_ic025_lies_below_ic(table: Table2x2) -> None:
    stats = measure(table)
    assert (stats.ic is None) == (table.n == 0)
    if stats.ic is not None:
        assert stats.ic025 is not None
        assert stats.ic025 < stats.ic


@given(tables)
def test_a_signal_needs_at_least_three_cases(table: Table2x2) -> None:
    if measure(table).signal:
        assert table.a >= 3


@given(st.integers(min_value=0, max_value=1000), st.lists(st.integers(min_value=0, max_value=1000), max_size=12))
def test_rising_means_at_least_three_and_above_threshold(current: int, history: list[int]) -> None:
    judged = rise(current, history)
    assert judged.threshold >= judged.baseline_mean >= 0
    assert judged.rising == (current >= 3 and current > judged.threshold)


def test_signal_criteria_name_each_test_met() -> None:
    # Hand-computed above: PRR 4.5, chi-square 16.13, ROR lower bound 2.22,
    # IC025 = log2(3) − 3.3/√10.5 − 2/10.5^1.5 ≈ 0.51 > 0.
    assert measure(Table2x2(a=10, b=90, c=20, d=880)).signal_criteria == ["evans", "ror", "ic025"]
    # Below a = 3 neither Evans nor the ROR can hold; the IC025 has no minimum count.
    assert signal_criteria(Table2x2(a=2, b=0, c=0, d=100), _stats(prr=50.0, chi2=90.0, ror_lower=3.0)) == []
    only_ic = Disproportionality(
        prr=None, chi2=None, ror=None, ror_lower=None, ror_upper=None, ic=1.0, ic025=0.1, signal=False
    )
    assert signal_criteria(Table2x2(a=2, b=0, c=0, d=100), only_ic) == ["ic025"]
    assert not is_signal(Table2x2(a=2, b=0, c=0, d=100), only_ic)


def test_poisson_upper_tail_by_hand() -> None:
    # P(X ≥ 5 | μ = 1) = 1 − e^−1 (1 + 1 + 1/2 + 1/6 + 1/24)
    assert poisson_upper_tail(5, 1.0) == pytest.approx(0.003659846827, rel=1e-9)
    # P(X ≥ 3 | μ = 0.5) = 1 − e^−0.5 (1 + 0.5 + 0.125)
    assert poisson_upper_tail(3, 0.5) == pytest.approx(0.01438767797, rel=1e-9)
    assert poisson_upper_tail(0, 2.0) == 1.0
    assert poisson_upper_tail(1, 0.0) == 0.0


def test_a_rise_carries_its_p_value() -> None:
    judged = rise(5, [1] * 12)
    assert judged.rising
    assert judged.p_value == pytest.approx(0.003659846827, rel=1e-9)


def test_mantel_haenszel_ror_and_its_robins_breslow_greenland_interval_by_hand() -> None:
    # Stratum 1 (n 10): R = 2·4/10 = 0.8, S = 3·1/10 = 0.3, P = 0.6, Q = 0.4
    # Stratum 2 (n 10): R = 1·6/10 = 0.6, S = 1·2/10 = 0.2, P = 0.7, Q = 0.3
    # ROR = 1.4 / 0.5 = 2.8; Var(ln) = 0.90/(2·1.4²) + 0.82/(2·1.4·0.5) + 0.18/(2·0.5²) ≈ 1.17531
    pooled = mantel_haenszel([Table2x2(a=2, b=3, c=1, d=4), Table2x2(a=1, b=1, c=2, d=6)])
    assert pooled.ror == pytest.approx(2.8)
    assert pooled.lower == pytest.approx(0.3344570875, rel=1e-9)
    assert pooled.upper == pytest.approx(23.44097432, rel=1e-9)


def test_mantel_haenszel_is_undefined_without_discordant_products_and_skips_empty_strata() -> None:
    assert mantel_haenszel([Table2x2(a=3, b=0, c=0, d=5)]).ror is None
    assert mantel_haenszel([]).ror is None
    one = mantel_haenszel([Table2x2(a=2, b=3, c=1, d=4)])
    assert mantel_haenszel([Table2x2(a=2, b=3, c=1, d=4), Table2x2(a=0, b=0, c=0, d=0)]) == one
    # A single stratum gives the crude ROR: 2·4 / (3·1).
    assert one.ror == pytest.approx(8 / 3)
