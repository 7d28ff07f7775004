"""VaR and its backtests: known values, tests that reject what they should, point-in-time baselines."""

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.ml.var import (
    backtest,
    backtest_against_baselines,
    christoffersen_test,
    daily_returns,
    fit_var_multipliers,
    garch_volatility,
    historical_volatility,
    kupiec_test,
    value_at_risk,
)

NORMAL = {"0.95": {"multiplier": 1.6448536, "method": "normal"}, "0.99": {"multiplier": 2.3263479, "method": "normal"}}


def test_value_at_risk_is_the_multiplier_times_volatility():
    np.testing.assert_allclose(value_at_risk(np.array([1.0, 0.02]), 0.99, NORMAL), [2.3263, 0.046527], rtol=1e-4)
    np.testing.assert_allclose(value_at_risk(np.array([1.0]), 0.95, {"0.95": {"multiplier": 2.0}}), [2.0])


def test_multipliers_fitted_on_fat_tails_cover_where_the_normal_quantile_does_not():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.01, 0.03, 40_000)
    # Student-t with 3 degrees of freedom, scaled to unit variance: fat tails, the right sigma.
    returns = sigma * rng.standard_t(3, 40_000) / np.sqrt(3.0)
    fit, held_out = slice(0, 20_000), slice(20_000, None)
    fitted = fit_var_multipliers(returns[fit], sigma[fit])
    assert fitted["0.99"]["method"] == "empirical" and fitted["0.99"]["rows"] == 20_000
    assert fitted["0.99"]["multiplier"] > 2.326 * 1.05 and fitted["0.95"]["multiplier"] < 1.645
    for level, multipliers, passes in ((0.99, fitted, True), (0.99, NORMAL, False)):
        violated = -returns[held_out] > value_at_risk(sigma[held_out], level, multipliers)
        assert (kupiec_test(violated, level)["p_value"] > 0.01) is passes
    # A volatility forecast off by a factor is absorbed into the multiplier.
    halved = fit_var_multipliers(returns[fit], sigma[fit] / 2)
    assert halved["0.99"]["multiplier"] == pytest.approx(2 * fitted["0.99"]["multiplier"])


def test_too_few_rows_for_an_empirical_quantile_fall_back_to_the_normal_one():
    rng = np.random.default_rng(1)
    returns, sigma = rng.normal(0, 0.02, 500), np.full(500, 0.02)
    sigma[:10] = np.nan  # ignored, as are rows without a return
    returns[10:20] = np.nan
    fitted = fit_var_multipliers(returns, sigma)
    # 480 rows: 24 expected exceedances at 95%, 4.8 at 99% (under the 10 an empirical quantile needs).
    assert fitted["0.95"]["method"] == "empirical" and fitted["0.95"]["rows"] == 480
    assert fitted["0.99"] == {"multiplier": pytest.approx(2.3263479), "method": "normal", "rows": 480}


def test_kupiec_accepts_the_expected_rate_and_rejects_a_wrong_one():
    exact = np.zeros(1000, dtype=bool)
    exact[::100] = True  # 10 violations in 1,000 days: exactly 1%
    result = kupiec_test(exact, 0.99)
    assert result["violations"] == 10 and result["lr"] == pytest.approx(0.0, abs=1e-9) and result["p_value"] == pytest.approx(1.0)
    too_many = np.zeros(1000, dtype=bool)
    too_many[::25] = True  # 4%
    assert kupiec_test(too_many, 0.99)["p_value"] < 1e-6
    # No violation in 1,000 days is too few for 1%: LR = -2 * 1000 * log(0.99) = 20.1.
    assert kupiec_test(np.zeros(1000, dtype=bool), 0.99)["lr"] == pytest.approx(20.1, abs=0.05)


def test_christoffersen_rejects_clustered_violations_and_ignores_entity_boundaries():
    rng = np.random.default_rng(0)
    independent = rng.random(5000) < 0.05
    groups = np.repeat(np.arange(10), 500)
    assert christoffersen_test(independent, groups)["p_value"] > 0.01
    clustered = np.zeros(5000, dtype=bool)
    for start in rng.choice(4990, 50, replace=False):
        clustered[start:start + 5] = True  # runs of five
    assert christoffersen_test(clustered, groups)["p_value"] < 1e-6
    # Two entities, each violating on its last day then the other's first: no transition 1 -> 1 inside an entity.
    boundary = christoffersen_test(np.array([0, 0, 1, 1, 0, 0], bool), np.array([0, 0, 0, 1, 1, 1]))
    assert boundary["n11"] == 0 and boundary["n01"] == 1 and boundary["n10"] == 1


def _garch_prices(n_entities=3, n_days=600, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    rows, truth = [], []
    for e in range(n_entities):
        omega, alpha, beta = 2e-6, 0.08, 0.9
        variance, r, closes, sigmas = omega / (1 - alpha - beta), 0.0, [], []
        close = 100.0
        for _ in dates:
            variance = omega + alpha * r**2 + beta * variance
            r = np.sqrt(variance) * rng.standard_normal()
            close *= np.exp(r)
            closes.append(close)
            sigmas.append(np.sqrt(variance))
        rows.append(pd.DataFrame({"entity_id": f"E{e}", "date": dates, "close": closes}))
        truth.append(np.array(sigmas))
    return pd.concat(rows, ignore_index=True), truth, dates


def test_garch_tracks_the_true_volatility_and_never_reads_the_future():
    prices, truth, dates = _garch_prices()
    returns = daily_returns(prices)
    train_end = dates[399]
    sigma = garch_volatility(returns, train_end)
    # The forecast made on day t is the true sigma of day t+1.
    first = returns["entity_id"] == "E0"
    forecast = sigma[first].to_numpy()[1:-1]
    assert np.corrcoef(forecast, truth[0][2:])[0, 1] > 0.9
    # Perturb every return after day 450: forecasts made up to day 450 do not move.
    cut = dates[450]
    perturbed = prices.copy()
    later = perturbed["date"] > cut
    perturbed.loc[later, "close"] *= np.exp(np.random.default_rng(1).normal(0, 0.05, later.sum()))
    again = garch_volatility(daily_returns(perturbed), train_end)
    upto = returns["date"] <= cut
    np.testing.assert_allclose(again[upto], sigma[upto], rtol=1e-10)
    assert not np.allclose(again[~upto].dropna(), sigma[~upto].dropna())
    # Too little training history: no forecast rather than a guess.
    assert garch_volatility(returns, dates[50]).isna().all()


def test_historical_volatility_reads_the_last_twenty_returns_only():
    prices, _, dates = _garch_prices(n_entities=1, n_days=60)
    returns = daily_returns(prices)
    sigma = historical_volatility(returns)
    assert sigma.iloc[:20].isna().all()  # the first return is undefined, then 19 too few
    np.testing.assert_allclose(sigma.iloc[30], returns["log_return"].iloc[11:31].std())
    perturbed = prices.copy()
    perturbed.loc[perturbed["date"] > dates[40], "close"] *= 1.5
    np.testing.assert_allclose(historical_volatility(daily_returns(perturbed)).iloc[:41], sigma.iloc[:41])


def test_backtest_compares_methods_on_the_same_rows_and_flags_an_understated_volatility():
    rng = np.random.default_rng(3)
    n = 4000
    frame = pd.DataFrame({
        "entity_id": np.repeat(["A", "B"], n // 2),
        "date": np.tile(pd.bdate_range("2020-01-01", periods=n // 2), 2),
        "next_return": rng.normal(0, 0.02, n),
        "right": 0.02,
        "understated": 0.01,
    })
    frame.loc[5, "understated"] = np.nan
    result = backtest(frame, ["right", "understated"], {"right": NORMAL, "understated": NORMAL})
    assert result["rows"] == n - 1 and result["entities"] == 2
    assert result["methods"]["right"]["0.99"]["kupiec"]["p_value"] > 0.01
    assert result["methods"]["understated"]["0.99"]["kupiec"]["p_value"] < 1e-6
    assert result["methods"]["understated"]["0.95"]["kupiec"]["rate"] > 0.15


def test_a_history_too_short_for_garch_leaves_the_other_methods_compared():
    prices, _, dates = _garch_prices(n_entities=2, n_days=80)
    returns = daily_returns(prices)
    forecasts = returns[returns["date"] > dates[40]][["entity_id", "date"]].assign(model=0.02)
    calibration = returns[returns["date"].between(dates[20], dates[40])][["entity_id", "date"]].assign(model=0.02)
    result = backtest_against_baselines(forecasts, calibration, returns, dates[39])
    assert result["unavailable"] == ["garch_1_1"] and set(result["methods"]) == {"model", "historical_20d"}
    assert result["rows"] == len(forecasts) - 2  # each entity's last day has no next return
    assert "garch_1_1" in result["markdown"]


def test_every_method_is_calibrated_on_the_calibration_days_alone():
    prices, _, dates = _garch_prices(n_entities=4, n_days=900)
    returns = daily_returns(prices)
    # 4 entities x 300 days: enough for an empirical 99% quantile (12 expected exceedances).
    calibration_days, test_days = returns["date"].between(dates[400], dates[699]), returns["date"] > dates[699]
    keys = ["entity_id", "date"]
    result = backtest_against_baselines(
        returns[test_days][keys].assign(model=0.01), returns[calibration_days][keys].assign(model=0.01),
        returns, dates[399],
    )
    assert set(result["methods"]) == {"model", "historical_20d", "garch_1_1"}
    model_99 = result["methods"]["model"]["0.99"]
    expected = np.quantile(-returns.loc[calibration_days, "next_return"].dropna() / 0.01, 0.99)
    assert model_99["multiplier"]["method"] == "empirical"
    assert model_99["multiplier"]["multiplier"] == pytest.approx(expected)
    assert result["calibration"] == {"first": str(dates[400].date()), "last": str(dates[699].date())}
    assert "| model | 0.99 |" in result["markdown"] and "(empirical)" in result["markdown"]
    # Perturbing the evaluated days' returns moves the violations, never a multiplier.
    perturbed = prices.copy()
    later = perturbed["date"] > dates[710]
    perturbed.loc[later, "close"] *= np.exp(np.random.default_rng(2).normal(0, 0.05, later.sum()))
    moved = daily_returns(perturbed)
    again = backtest_against_baselines(
        moved[test_days][keys].assign(model=0.01), moved[calibration_days][keys].assign(model=0.01),
        moved, dates[399],
    )
    for method in result["methods"]:
        for level in ("0.95", "0.99"):
            assert again["methods"][method][level]["multiplier"] == result["methods"][method][level]["multiplier"]
    assert again["methods"]["model"]["0.99"]["kupiec"] != model_99["kupiec"]
