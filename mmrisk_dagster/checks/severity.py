"""The two severities every check uses: ERROR (unusable data, blocking) and WARN (drift)."""

import dagster as dg

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
