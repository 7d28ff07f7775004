"""Run a sub-graph of tests/integration/scale_jobs.py (`ingest_job` unless MMRISK_TEST_JOB names
another) over a partition range with the multiprocess executor, in this process:
`python -m tests.integration.fault_run FIRST LAST [RUN_ID_TO_REEXECUTE_FROM_FAILURE]`. The run
carries this process's pid (`RUN_PROCESS_TAG`), as mmrisk's own entry points do, so that the
dead-run sweep can judge it after test_faults.py kills it.
"""

import os
import sys

import dagster as dg

from mmrisk_dagster.instance import run_process_tag
from tests.integration import scale_jobs

RUN_CONFIG = {
    "execution": {"config": {"multiprocess": {"max_concurrent": 2}}},
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def main(first: str, last: str, reexecute: str | None) -> int:
    with dg.DagsterInstance.get() as instance:
        options = dg.ReexecutionOptions.from_failure(reexecute, instance) if reexecute else None
        tags = {**run_process_tag(), RANGE_START: first, RANGE_END: last}
        result = dg.execute_job(dg.reconstructable(getattr(scale_jobs, os.environ.get("MMRISK_TEST_JOB", "ingest_job"))), instance, run_config=RUN_CONFIG, tags=tags,
                                reexecution_options=options, raise_on_error=False)
        print(f"run {result.run_id} success={result.success}", flush=True)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
