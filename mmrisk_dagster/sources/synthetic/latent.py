"""The latent process: factors per slot-day, default hazard, entity lifecycle, the long panel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.synthetic.universe import SyntheticConfig
from mmrisk_dagster.sources.synthetic.vocabulary import NAME_HEADS, NAME_TAILS, SECTORS


def ar1(rng, shape, phi, n_steps):
    """AR(1) paths with unit stationary variance, shape (n_steps, *shape)."""
    out = np.empty((n_steps, *shape))
    out[0] = rng.standard_normal(shape)
    scale = np.sqrt(1 - phi**2)
    for t in range(1, n_steps):
        out[t] = phi * out[t - 1] + scale * rng.standard_normal(shape)
    return out


def simulate_latent(cfg: SyntheticConfig, rng: np.random.Generator, days: pd.DatetimeIndex):
    """Latent factors per slot-day and the entity that occupies each slot-day."""
    n_days, n = len(days), cfg.n_entities
    sector_of_slot = rng.integers(0, len(SECTORS), n)
    sector_factor = ar1(rng, (len(SECTORS),), 0.99, n_days)
    idio = ar1(rng, (n,), 0.985, n_days)
    distress = (sector_factor[:, sector_of_slot] + idio) / np.sqrt(2)
    leverage = ar1(rng, (n,), 0.997, n_days)
    shock = ar1(rng, (n,), 0.95, n_days)
    # Volatility regime: calm -> stressed with 1%/day, back with 4%/day, plus noise.
    regime = np.zeros((n_days, n))
    for t in range(1, n_days):
        u = rng.random(n)
        regime[t] = np.where(regime[t - 1] == 1, (u > 0.04).astype(float), (u < 0.01).astype(float))
    vol = regime + 0.4 * ar1(rng, (n,), 0.95, n_days)
    vol = (vol - vol.mean()) / vol.std()

    weights = np.array([0.8, 0.7, 0.7, 0.7])
    z = weights[0] * distress + weights[1] * leverage + weights[2] * vol + weights[3] * shock
    z /= np.sqrt((weights**2).sum())
    slope = 2.0
    daily_rate = cfg.annual_default_rate / 252
    intercept = np.log(daily_rate) - slope**2 / 2
    hazard = 1 / (1 + np.exp(-(intercept + slope * z)))

    # Entity lifecycle per slot: default -> gap -> a new entity with fresh latent history.
    occupant = np.full((n_days, n), -1, dtype=int)
    defaulted = np.zeros((n_days, n), dtype=bool)
    next_id = n
    current = np.arange(n)
    resume_at = np.zeros(n, dtype=int)
    draws = rng.random((n_days, n))
    for t in range(n_days):
        alive = t >= resume_at
        occupant[t, alive] = current[alive]
        hit = alive & (draws[t] < hazard[t]) & (t >= cfg.burn_in)
        defaulted[t, hit] = True
        for s in np.flatnonzero(hit):
            resume_at[s] = t + 1 + cfg.relist_gap
            current[s] = next_id
            next_id += 1
    factors = {"D": distress, "L": leverage, "V": vol, "S": shock, "z": z, "hazard": hazard}
    return sector_of_slot, occupant, defaulted, factors


def entity_table(rng, sector_of_slot, occupant):
    ids = np.unique(occupant[occupant >= 0])
    slot_of = {}
    for s in range(occupant.shape[1]):
        for e in np.unique(occupant[:, s]):
            if e >= 0:
                slot_of[e] = s
    names, tickers = [], []
    for e in ids:
        head = NAME_HEADS[e % len(NAME_HEADS)]
        tail = NAME_TAILS[(e // len(NAME_HEADS)) % len(NAME_TAILS)]
        suffix = "" if e < len(NAME_HEADS) * len(NAME_TAILS) else f" {e}"
        names.append(f"{head} {tail}{suffix}")
        tickers.append(f"{head[:3].upper()}{tail[0]}{e % 100:02d}")
    return pd.DataFrame(
        {
            "entity_id": [f"E{e:04d}" for e in ids],
            "ticker": tickers,
            "name": names,
            "sector": [SECTORS[sector_of_slot[slot_of[e]]] for e in ids],
            "size": rng.normal(8.0, 1.0, len(ids)),
            "base_volume": rng.normal(13.0, 0.8, len(ids)),
            "base_price": np.exp(rng.normal(3.5, 0.6, len(ids))),
        }
    )


def long_frame(days, occupant, factors, entities):
    t_idx, slot = np.nonzero(occupant >= 0)
    frame = pd.DataFrame(
        {
            "t": t_idx,
            "slot": slot,
            "entity_num": occupant[t_idx, slot],
            "date": days[t_idx],
        }
    )
    for key, values in factors.items():
        frame[key] = values[t_idx, slot]
    frame["entity_id"] = [f"E{e:04d}" for e in frame["entity_num"]]
    return frame.merge(entities, on="entity_id", how="left")
