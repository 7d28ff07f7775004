"""Jobs, the weekday schedule, the new-files sensor and the freshness expected of the scores.

- `full_refresh`: every asset, raw to rules (a range run is one vectorized step per asset).
- `daily_scoring`: the partitioned path raw -> cleaned -> embeddings -> panel -> shared
  embeddings -> scores and alerts, with the model already trained (read from the warehouse).
- `retrain`: refit the shared space and the model on the training window, evaluate, gate.
- `daily_scoring_schedule`: each weekday at 00:00 UTC, `daily_scoring` for the business day
  that just closed.
- `new_source_files`: with the `files` source, a `daily_scoring` run whenever a data file in
  the folder is added, rewritten or removed.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from mmrisk_dagster.instance import dead_run_sweep
from mmrisk_dagster.partitions import daily_partitions, range_run_tags
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.watch import changed_files, fingerprint_key, folder_fingerprint

MODEL_ASSETS = ("shared_space", "training_labels", "multitask_model", "model_evaluation")

# Scores for day t are due by 06:00 UTC on the next business day (the schedule starts at
# 00:00); a materialization in the 24 hours before a deadline satisfies it.
SCORES_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * 1-5", lower_bound_delta=timedelta(hours=24))

full_refresh = dg.define_asset_job(
    "full_refresh", selection=dg.AssetSelection.all(), description="Every asset, raw to rules."
)
daily_scoring = dg.define_asset_job(
    "daily_scoring",
    selection=dg.AssetSelection.groups("sources", "cleaning", "embeddings", "scoring")
    | dg.AssetSelection.assets("modality_panel", "shared_embeddings"),
    description="Raw to scores for the chosen business days with the current model: one day costs one "
    "day plus its lookback windows.",
)
retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Refit the shared space and the model on the current training window, then evaluate and gate.",
)

daily_scoring_schedule = dg.build_schedule_from_partitioned_job(
    daily_scoring,
    description="Weekdays at 00:00 UTC: score the business day that just closed.",
)


@dg.sensor(
    job=daily_scoring,
    minimum_interval_seconds=60,
    description="With MMRISK_SOURCE=files: when a data file in the folder is added, rewritten or removed, "
    "re-run raw to scores over the whole partition range (one vectorized run; a file may change any day).",
)
def new_source_files(context: dg.SensorEvaluationContext, data_source: DataSourceResource):
    if data_source.kind != "files":
        return dg.SkipReason(f"the data source is '{data_source.kind}', not a folder of files")
    previous = dg.deserialize_value(context.cursor, dict) if context.cursor else {}
    current = folder_fingerprint(data_source.path)
    changed = changed_files(previous, current)
    if not changed:
        return dg.SkipReason(f"no file changed in {data_source.path}")
    context.update_cursor(dg.serialize_value(current))
    keys = daily_partitions.get_partition_keys()
    return dg.RunRequest(
        run_key=fingerprint_key(current),
        tags={**range_run_tags(keys[0], keys[-1]), "mmrisk/changed_files": ",".join(changed)[:200]},
    )


jobs = [full_refresh, daily_scoring, retrain]
schedules = [daily_scoring_schedule]
sensors = [new_source_files, dead_run_sweep]
