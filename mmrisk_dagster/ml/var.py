"""One-day Value-at-Risk from a predicted volatility, and its backtest.

VaR at level ``a`` is the loss the next day's log return exceeds with probability ``1 - a``:
``VaR_a = m_a * sigma`` for a volatility forecast ``sigma`` (a positive number; a *violation* is a
next-day return below ``-VaR_a``). The multiplier ``m_a`` is the ``a``-quantile of the
standardized losses ``-r / sigma`` on rows the forecaster was not fitted on (the validation
split: filtered historical simulation), so fat tails and a biased volatility scale are priced in;
the normal quantile ``z_a`` (2.33 at 99%), which under-covers fat-tailed returns, is used only
where too few rows make an empirical quantile noise (`fit_var_multipliers`). Every method in a
backtest gets its multipliers the same way, on the same rows.

The backtest asks two questions of the violations on held-out days (Christoffersen 1998):

* **Kupiec's unconditional coverage** (proportion of failures): is the violation rate ``1 - a``?
* **Christoffersen's independence**: is a violation as likely after a violation as after a
  quiet day? (Transitions are counted within each entity's own sequence of days.)

Both are likelihood-ratio tests with one degree of freedom; a small p-value rejects the model.

Two baselines a risk desk already has, both reading only returns up to the day of the forecast:
a 20-day historical volatility (no fitted parameter) and a GARCH(1,1) (the `arch` package) whose
parameters are fitted per entity on the training dates only, then run forward with those
parameters fixed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import chi2, norm

VAR_LEVELS = (0.95, 0.99)
HISTORICAL_WINDOW = 20
# A GARCH(1,1) needs a few months of returns before its three parameters mean anything.
GARCH_MIN_TRAINING_RETURNS = 100
# arch's optimizer is best conditioned on returns in percent.
_PERCENT = 100.0
# An empirical quantile resting on fewer expected exceedances than this is mostly noise.
MIN_EXPECTED_EXCEEDANCES = 10


def level_key(level: float) -> str:
    return f"{level:.2f}"


def fit_var_multipliers(next_return: np.ndarray, volatility: np.ndarray, levels=VAR_LEVELS) -> dict[str, dict]:
    """Per level (keyed "0.95", "0.99"): the multiplier of the volatility forecast, how it was
    obtained ("empirical": the level-quantile of -next_return / volatility; "normal": too few rows
    for that, the normal quantile) and the rows it rests on. Rows without a return or a positive
    forecast are ignored."""
    r, sigma = np.asarray(next_return, dtype=float), np.asarray(volatility, dtype=float)
    known = np.isfinite(r) & np.isfinite(sigma) & (sigma > 0)
    standardized_loss = -r[known] / sigma[known]
    out = {}
    for level in levels:
        if len(standardized_loss) * (1 - level) >= MIN_EXPECTED_EXCEEDANCES:
            multiplier, method = float(np.quantile(standardized_loss, level)), "empirical"
        else:
            multiplier, method = float(norm.ppf(level)), "normal"
        out[level_key(level)] = {"multiplier": multiplier, "method": method, "rows": int(known.sum())}
    return out


def value_at_risk(volatility: np.ndarray, level: float, multipliers: dict[str, dict]) -> np.ndarray:
    """One-day VaR at `level` (e.g. 0.99) as a positive log-return loss, with the multipliers of
    `fit_var_multipliers`."""
    return multipliers[level_key(level)]["multiplier"] * np.asarray(volatility, dtype=float)


def daily_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """entity_id, date, log_return (close over the previous close) and next_return (the next
    trading day's log return: what a VaR computed on `date` is about), sorted by entity and date."""
    frame = prices[["entity_id", "date", "close"]].sort_values(["entity_id", "date"], ignore_index=True)
    by_entity = frame.groupby("entity_id", sort=False)["close"]
    frame["log_return"] = np.log(frame["close"] / by_entity.shift(1))
    frame["next_return"] = frame.groupby("entity_id", sort=False)["log_return"].shift(-1)
    return frame.drop(columns="close")


def historical_volatility(returns: pd.DataFrame, window: int = HISTORICAL_WINDOW) -> pd.Series:
    """Standard deviation of the last `window` log returns up to and including each date."""
    return returns.groupby("entity_id", sort=False)["log_return"].transform(
        lambda r: r.rolling(window, min_periods=window).std()
    )


def garch_volatility(
    returns: pd.DataFrame, train_end: pd.Timestamp, min_training_returns: int = GARCH_MIN_TRAINING_RETURNS
) -> pd.Series:
    """One-step-ahead GARCH(1,1) volatility made on each date (for the next day's return).

    Parameters are fitted per entity on its returns dated on or before `train_end`; later
    forecasts filter the later returns with those parameters fixed. NaN for an entity with fewer
    than `min_training_returns` training returns or whose fit did not converge.
    """
    from arch import arch_model

    out = pd.Series(np.nan, index=returns.index)
    for _, group in returns.groupby("entity_id", sort=False):
        series = group["log_return"].dropna()
        n_train = int((group.loc[series.index, "date"] <= train_end).sum())
        if n_train < min_training_returns:
            continue
        model = arch_model(
            series.to_numpy() * _PERCENT, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is checked below, not warned about
            fitted = model.fit(last_obs=n_train, disp="off")
        if fitted.convergence_flag != 0:
            continue
        forecast = fitted.forecast(horizon=1, start=0, reindex=False).variance.to_numpy()[:, 0]
        out.loc[series.index] = np.sqrt(forecast) / _PERCENT
    return out


def kupiec_test(violations: np.ndarray, level: float) -> dict:
    """Unconditional coverage: LR = -2 log(L(1 - level) / L(observed rate)) ~ chi2(1)."""
    violations = np.asarray(violations, dtype=bool)
    n, x = len(violations), int(violations.sum())
    expected = 1 - level
    if n == 0:
        return {
            "rows": 0,
            "violations": 0,
            "rate": float("nan"),
            "expected_rate": expected,
            "lr": float("nan"),
            "p_value": float("nan"),
        }
    rate = x / n
    log_null = xlogy(n - x, 1 - expected) + xlogy(x, expected)
    log_observed = xlogy(n - x, 1 - rate) + xlogy(x, rate)
    lr = max(0.0, float(-2 * (log_null - log_observed)))
    return {
        "rows": n,
        "violations": x,
        "rate": rate,
        "expected_rate": expected,
        "lr": lr,
        "p_value": float(chi2.sf(lr, 1)),
    }


def christoffersen_test(violations: np.ndarray, groups: np.ndarray) -> dict:
    """Independence of violations: first-order Markov chain against independence, ~ chi2(1).

    `violations` are ordered by date within each group (entity); transitions never cross groups.
    """
    violations = np.asarray(violations, dtype=bool)
    groups = np.asarray(groups)
    same = groups[1:] == groups[:-1]
    before, after = violations[:-1][same], violations[1:][same]
    n00, n01 = int((~before & ~after).sum()), int((~before & after).sum())
    n10, n11 = int((before & ~after).sum()), int((before & after).sum())
    counts = {"n00": n00, "n01": n01, "n10": n10, "n11": n11}
    total = n00 + n01 + n10 + n11
    if total == 0:
        return {**counts, "lr": float("nan"), "p_value": float("nan")}
    pi = (n01 + n11) / total
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_null = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    log_markov = xlogy(n00, 1 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1 - pi1) + xlogy(n11, pi1)
    lr = max(0.0, float(-2 * (log_null - log_markov)))
    return {**counts, "lr": lr, "p_value": float(chi2.sf(lr, 1))}


def backtest(
    frame: pd.DataFrame, volatility_columns: list[str], multipliers: dict[str, dict], levels=VAR_LEVELS
) -> dict:
    """Both tests per volatility column and level, on the rows where every column has a forecast
    and the next return is known (the methods are compared on the same entity-days).

    `frame` holds entity_id, date, next_return and the volatility columns; `multipliers` maps each
    column to its `fit_var_multipliers` result.
    """
    rows = frame.dropna(subset=["next_return", *volatility_columns]).sort_values(["entity_id", "date"])
    out: dict = {"rows": int(len(rows)), "entities": int(rows["entity_id"].nunique()), "methods": {}}
    loss = -rows["next_return"].to_numpy()
    for column in volatility_columns:
        per_level = {}
        for level in levels:
            violated = loss > value_at_risk(rows[column].to_numpy(), level, multipliers[column])
            per_level[level_key(level)] = {
                "multiplier": multipliers[column][level_key(level)],
                "kupiec": kupiec_test(violated, level),
                "christoffersen": christoffersen_test(violated, rows["entity_id"].to_numpy()),
            }
        out["methods"][column] = per_level
    return out


def markdown_table(result: dict) -> str:
    lines = [
        f"| VaR backtest ({result['rows']:,} entity-days, {result['entities']} entities) | level | multiplier "
        "of the volatility | violation rate (expected) | Kupiec p | Christoffersen p |",
        "|---|---|---|---|---|---|",
    ]
    for method, per_level in result["methods"].items():
        for level, tests in per_level.items():
            k, c, m = tests["kupiec"], tests["christoffersen"], tests["multiplier"]
            lines.append(
                f"| {method} | {level} | {m['multiplier']:.3f} ({m['method']}) | {k['rate']:.4f} "
                f"({k['expected_rate']:.2f}) | {k['p_value']:.3f} | {c['p_value']:.3f} |"
            )
    lines.append(
        f"\nEach multiplier is fitted on the entity-days from {result['calibration']['first']} to "
        f"{result['calibration']['last']} where the method has a forecast (empirical: the level-quantile of "
        "loss / forecast; normal: too few days for that)."
    )
    return "\n".join(lines)


def backtest_against_baselines(
    forecasts: pd.DataFrame, calibration_forecasts: pd.DataFrame, returns: pd.DataFrame, train_end: pd.Timestamp
) -> dict:
    """The model's VaR against the two baselines on the model's evaluated entity-days.

    `forecasts` holds entity_id, date and `model` (the volatility the model predicted on that
    date); `calibration_forecasts` the same for the entity-days every method's multipliers are
    fitted on (the validation split: before the evaluated days, and no method was fitted there);
    `returns` comes from `daily_returns` over the whole history (the baselines need the days
    before the evaluated ones), and the GARCH is fitted on dates up to `train_end`.
    """
    baselines = returns.assign(
        historical_20d=historical_volatility(returns), garch_1_1=garch_volatility(returns, train_end)
    )

    def with_baselines(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[["entity_id", "date", "model"]].merge(baselines, on=["entity_id", "date"], how="left")

    rows, calibration = with_baselines(forecasts), with_baselines(calibration_forecasts)
    # A method with no forecast on any evaluated day (a history too short for a GARCH fit) is
    # named as unavailable rather than emptying the comparison for the others.
    methods = [m for m in ("model", "historical_20d", "garch_1_1") if rows[m].notna().any()]
    multipliers = {m: fit_var_multipliers(calibration["next_return"], calibration[m]) for m in methods}
    result = backtest(rows, methods, multipliers)
    result["calibration"] = {
        "first": str(pd.Timestamp(calibration["date"].min()).date()) if len(calibration) else "-",
        "last": str(pd.Timestamp(calibration["date"].max()).date()) if len(calibration) else "-",
    }
    result["unavailable"] = sorted({"model", "historical_20d", "garch_1_1"} - set(methods))
    result["markdown"] = markdown_table(result)
    if result["unavailable"]:
        result["markdown"] += (
            f"\n\nNo forecast on any evaluated day (history too short): {', '.join(result['unavailable'])}."
        )
    return result
