"""What the later-stage checks measure, as plain functions on DataFrames (no Dagster import).

* embeddings: one dimension (the expected one where the stage fixes it), finite values, one row
  per entity-date, vector norms inside the range their construction allows;
* panel: each modality's coverage per date against its own trailing average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class VectorSpec:
    column: str  # "vector" (float32 array) or "image" (bit-packed bytes)
    dimension: int | None  # None: depends on the source (fundamentals' feature columns)
    norm_min: float
    norm_max: float | None  # None: a multiple of sqrt(dimension), see `norm_per_sqrt_dim`
    norm_per_sqrt_dim: float | None = None


@dataclass(frozen=True)
class VectorReport:
    rows: int
    dimensions: list[int]  # distinct lengths seen (bytes for images)
    expected_dimension: int | None
    non_finite_rows: int
    duplicate_keys: int
    norm_min: float
    norm_median: float
    norm_max: float
    norm_bounds: tuple[float, float]
    out_of_range_rows: int
    examples: list[dict]

    @property
    def structurally_valid(self) -> bool:
        """Dimension, finiteness and keys: failures here make the vectors unusable (ERROR)."""
        dimension_ok = len(self.dimensions) <= 1 and (
            self.expected_dimension is None or self.dimensions in ([], [self.expected_dimension])
        )
        return dimension_ok and self.non_finite_rows == 0 and self.duplicate_keys == 0

    @property
    def norms_in_range(self) -> bool:
        return self.out_of_range_rows == 0


def _row_norms(values: pd.Series, image: bool) -> tuple[np.ndarray, np.ndarray]:
    """(finite, norm) per row. For a bit-packed chart the "norm" is its share of inked pixels,
    so 0 is a blank chart."""
    if image:
        lengths = {len(v) for v in values}
        if len(lengths) == 1:
            packed = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), -1)
            return np.ones(len(values), dtype=bool), np.unpackbits(packed, axis=1).mean(axis=1)
        inked = [np.unpackbits(np.frombuffer(v, dtype=np.uint8)).mean() if len(v) else 0.0 for v in values]
        return np.ones(len(values), dtype=bool), np.array(inked)
    rows = [np.asarray(v, dtype=np.float64) for v in values]
    if rows and len({len(r) for r in rows}) == 1:
        matrix = np.stack(rows)
        finite = np.asarray(np.isfinite(matrix).all(axis=1))
        return finite, np.linalg.norm(np.where(np.isfinite(matrix), matrix, 0.0), axis=1)
    finite = np.array([np.isfinite(r).all() for r in rows], dtype=bool)
    return finite, np.array([np.linalg.norm(np.where(np.isfinite(r), r, 0.0)) for r in rows])


def inspect_vectors(frame: pd.DataFrame, spec: VectorSpec, examples: int = 5) -> VectorReport:
    values = frame[spec.column]
    dimensions = sorted({int(n) for n in values.map(len)})
    finite, norms = _row_norms(values, image=spec.column == "image")
    dimension = spec.dimension or (dimensions[0] if dimensions else 0)
    if spec.norm_max is not None:
        upper = spec.norm_max
    elif spec.norm_per_sqrt_dim is not None:
        upper = spec.norm_per_sqrt_dim * float(np.sqrt(dimension))
    else:
        raise ValueError(f"the VectorSpec of '{spec.column}' sets neither norm_max nor norm_per_sqrt_dim")
    out_of_range = finite & ((norms < spec.norm_min) | (norms > upper))
    flagged = ~finite | out_of_range
    sample = frame.loc[flagged, ["entity_id", "date"]].head(examples).assign(norm=norms[flagged][:examples])
    finite_norms = norms[finite]
    return VectorReport(
        rows=len(frame),
        dimensions=dimensions,
        expected_dimension=spec.dimension,
        non_finite_rows=int((~finite).sum()),
        duplicate_keys=int(frame.duplicated(["entity_id", "date"]).sum()),
        norm_min=float(finite_norms.min()) if len(finite_norms) else 0.0,
        norm_median=float(np.median(finite_norms)) if len(finite_norms) else 0.0,
        norm_max=float(finite_norms.max()) if len(finite_norms) else 0.0,
        norm_bounds=(float(spec.norm_min), upper),
        out_of_range_rows=int(out_of_range.sum()),
        examples=sample.astype(str).to_dict(orient="records"),
    )


def coverage_by_date(panel: pd.DataFrame, modalities) -> tuple[pd.DataFrame, pd.Series]:
    """Share of panel rows with each modality present, per date; and the rows per date."""
    by_date = panel.groupby("date")
    coverage = by_date[[f"{m}_present" for m in modalities]].mean()
    coverage.columns = list(modalities)
    return coverage.sort_index(), by_date.size().sort_index()


def coverage_drops(
    coverage: pd.DataFrame,
    rows: pd.Series,
    dates,
    window: int = 20,
    ratio: float = 0.25,
    min_expected: float = 10.0,
    min_history: int = 5,
) -> pd.DataFrame:
    """Dates among `dates` where a modality's coverage fell below `ratio` x its mean over the
    previous `window` dates. Judged only where the trailing mean predicts at least
    `min_expected` present rows, so that a sparse modality on a small universe (two news items
    expected, none came) is not called a drop."""
    trailing = coverage.shift(1).rolling(window, min_periods=min_history).mean()
    expected = trailing.mul(rows, axis=0)
    dropped = (coverage < ratio * trailing) & (expected >= min_expected)
    dropped = dropped[dropped.index.isin(pd.DatetimeIndex(dates))]
    stacked = dropped.stack()
    hits = stacked[stacked].index
    return pd.DataFrame(
        {
            "date": [d for d, _ in hits],
            "modality": [m for _, m in hits],
            "coverage": [float(coverage.at[d, m]) for d, m in hits],
            "trailing_mean": [float(trailing.at[d, m]) for d, m in hits],
        }
    )
