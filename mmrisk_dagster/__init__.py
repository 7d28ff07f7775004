"""mmrisk: multimodal financial risk scores as Dagster software-defined assets."""

import warnings

import dagster as dg

# Backfill policies, nonexistent-partition mappings and partitioned checks are beta/preview APIs
# we rely on deliberately; their warnings would drown every log line.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
