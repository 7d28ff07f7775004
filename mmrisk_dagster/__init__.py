"""mmrisk: multimodal financial risk scores as Dagster software-defined assets."""

import warnings

import dagster as dg

# The beta/preview APIs this project relies on deliberately, each named by its message: their
# warnings would repeat on every code-location load. Any other beta, preview or deprecation
# warning (a new one after a Dagster upgrade) still shows.
DELIBERATE_BETA_APIS = (
    (dg.BetaWarning, r"Parameter `backfill_policy` of function `asset` is currently in beta"),
    (dg.BetaWarning, r"Parameter `allow_nonexistent_upstream_partitions` of initializer `TimeWindowPartitionMapping"),
    (dg.PreviewWarning, r"Specifying a partitions_def on an AssetCheckSpec is currently in preview"),
    # Source-code links on every asset (definitions.py):
    (dg.BetaWarning, r"Function `with_source_code_references` is currently in beta"),
    (dg.BetaWarning, r"Class `(CodeReferencesMetadataValue|LocalFileCodeReference)` is currently in beta"),
)
for category, message in DELIBERATE_BETA_APIS:
    warnings.filterwarnings("ignore", message=message, category=category)
