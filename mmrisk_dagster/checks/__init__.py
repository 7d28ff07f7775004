"""Asset checks between the stages.

Severity has a meaning: a key, schema or type failure makes the data unusable and is ERROR; every
such check is blocking, so downstream assets do not run. Distribution or freshness drift is WARN:
shown in the UI, nothing stops. A check that finds both reports ERROR.

* raw, cleaned and quarantine tables: `expectations`, the Great Expectations suite
  `checks/expectations/<asset>.json` (`checks/gx.py`; the cleaned tables' suites include their
  unique keys), plus `rows_conserved` (raw = clean + quarantined, per partition) on every
  cleaned table and `keys_unique_across_partitions` on news, posts and events;
* embeddings: `vectors_valid` (dimension, finite values, one row per entity-date: ERROR; norms
  outside the range their construction allows: WARN);
* panel: `modality_coverage`, each modality's coverage per date against its trailing average;
* shared space: `alignment_above_random`; model: the `model_gate`; scores: `scores_valid`.

Checks on partitioned assets report one evaluation per partition of the run (`per_partition`), so
the UI shows each day passed or failed after a range run.
"""

from mmrisk_dagster.checks.preflight import preflight_checks
from mmrisk_dagster.checks.stages import stage_checks
from mmrisk_dagster.checks.tables import table_checks

asset_checks = [*table_checks, *preflight_checks, *stage_checks]
