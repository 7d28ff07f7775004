"""The shell commands the README and docs/ show, run as written on a small universe and range, so
none of them can silently break. (`make demo` and `make test` are what CI runs itself.)"""

import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg

from mmrisk_dagster.definitions import defs
from tests.commands import BIN, LAST, ROOT, backfill_small_graph, small_env, stop_server


def test_make_backfill_materializes_the_whole_graph_over_a_range_in_one_run(tmp_path):
    env = small_env(tmp_path / "new-home")
    done = backfill_small_graph(tmp_path, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    dagster_home = Path(env["MMRISK_HOME"]) / "dagster"  # created by the command itself
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        for spec in defs.resolve_all_asset_specs():
            assert instance.get_latest_materialization_event(spec.key) is not None, spec.key
        scores = instance.fetch_materializations(dg.AssetKey("risk_scores"), limit=1000).records
        assert {r.partition_key for r in scores} >= {"2024-01-01", LAST}
    # Every SQL query the docs show, on the home this backfill filled.
    queries = _documented_queries()
    assert len(queries) >= 4
    for sql in queries:
        ran = subprocess.run([str(BIN / "python"), "-m", "mmrisk_dagster.query", sql], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, f"{sql}\n{ran.stderr[-2000:]}"
        assert ran.stdout.strip(), sql


def _documented_queries() -> list[str]:
    """The SQL of each `python -m mmrisk_dagster.query "..."` in the README and docs/."""
    texts = [(ROOT / "README.md").read_text(), *(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))]
    return [re.sub(r"\s+", " ", sql) for text in texts
            for sql in re.findall(r'python -m mmrisk_dagster\.query (?:\\\n\s*)?"([^"]+)"', text)]


def test_make_mlflow_ui_serves_on_localhost(tmp_path):
    env = small_env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stamp = tmp_path / "installed"
    stamp.touch()
    server = subprocess.Popen(
        ["make", "mlflow-ui", f"BIN={BIN}", f"STAMP={stamp}", f"MLFLOW_PORT={port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "make mlflow-ui did not start"
                time.sleep(1)
    finally:
        stop_server(server)


def test_the_readme_is_a_front_door_whose_commands_are_tested_and_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    commands = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
                for line in block.splitlines() if line.strip()]
    # make test is what CI runs (after make check); the others are run by the tests in this folder.
    tested = {"make demo", "make test", "make ui", "make mlflow-ui", "make backfill FROM=2024-01-01 TO=2024-06-28"}
    assert set(commands) <= tested, set(commands) - tested
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme)
    assert len(images) >= 4
    for target in images + re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target
    assert all((ROOT / image).stat().st_size < 300_000 for image in images)


def test_every_documented_benchmark_command_uses_only_options_its_script_has():
    """Each `python -m benchmarks.<script> ...` in the README, docs/ and the scripts' docstrings:
    every option it names is in the script's `--help`, and every value given to an option with
    choices is one of them. (Running them is what the benchmarks are for: minutes to an hour.)"""
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    commands: dict[str, list[str]] = {}
    for path in sources:
        for script, arguments in re.findall(r"python -m benchmarks\.(\w+)((?:[^\n`]*\\\n)*[^\n`]*)", path.read_text()):
            commands.setdefault(script, []).append(arguments.replace("\\\n", " "))
    assert {"real_data", "model_quality", "orchestration", "event_log"} <= set(commands)
    for script, lines in commands.items():
        shown = subprocess.run([str(BIN / "python"), "-m", f"benchmarks.{script}", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert shown.returncode == 0, shown.stderr[-2000:]
        choices = {flag: set(values.split(",")) for flag, values in re.findall(r"(--[\w-]+) \{([^}]+)\}", shown.stdout)}
        for line in lines:
            for flag, value in re.findall(r"(?<!\S)(--[a-z][\w-]*)(?:[ =](\S+))?", line):
                assert re.search(rf"(?<![\w-]){flag}(?![\w-])", shown.stdout), f"benchmarks.{script}: {flag} ({line.strip()})"
                if flag in choices:
                    assert value in choices[flag], f"benchmarks.{script} {flag} {value}: not one of {choices[flag]}"
