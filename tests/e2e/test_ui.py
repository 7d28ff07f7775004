"""The webserver users open (`make ui`) serves every asset in its group."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mmrisk_dagster.definitions import defs
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
UI_SECRET_SALT = "ui-test-secret-4d1e8b7a90c2f365"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "MMRISK_HOME": str(home), SALT_VARIABLE: UI_SECRET_SALT}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if _graphql(port, "{ version }"):
                    break
            except OSError:
                time.sleep(1)
        else:
            raise RuntimeError("webserver did not start: " + server.stderr.read1().decode(errors="replace")[-2000:])
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_ui_lists_every_asset_in_its_group(webserver):
    nodes = _graphql(webserver, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    served = {node["assetKey"]["path"][-1]: node["groupName"] for node in nodes}
    expected = {spec.key.path[-1]: spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert served == expected
    assert set(served.values()) == {"sources", "cleaning", "embeddings", "fusion", "model", "scoring", "mining"}


def test_ui_shows_the_blocking_model_gate(webserver):
    query = '{ assetNodeOrError(assetKey: {path: ["model_evaluation"]}) { ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } } }'
    checks = _graphql(webserver, query)["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert {"name": "model_gate", "blocking": True} in checks


def test_ui_shows_a_blocking_expectation_suite_on_every_raw_and_cleaned_table(webserver):
    from mmrisk_dagster.checks.tables import GX_ASSETS

    for asset in GX_ASSETS:
        query = f'{{ assetNodeOrError(assetKey: {{path: ["{asset}"]}}) {{ ... on AssetNode {{ assetChecksOrError {{ ... on AssetChecks {{ checks {{ name blocking description }} }} }} }} }} }}'
        checks = _graphql(webserver, query)["assetNodeOrError"]["assetChecksOrError"]["checks"]
        suite = next(c for c in checks if c["name"] == "expectations")
        assert suite["blocking"] and f"mmrisk_dagster/checks/expectations/{asset}.json" in suite["description"], asset


def test_ui_names_the_salt_variable_but_never_shows_its_value(webserver):
    repository = '{repositoryLocationName: "mmrisk", repositoryName: "__repository__"}'
    query = (
        f"{{ allTopLevelResourceDetailsOrError(repositorySelector: {repository}) {{ ... on ResourceDetailsList {{"
        " results { name description configFields { name defaultValueAsJson } configuredValues { key value type } } } }"
        f" utilizedEnvVarsOrError(repositorySelector: {repository}) {{ ... on EnvVarWithConsumersList {{"
        " results { envVarName envVarConsumers { name } } } } }"
    )
    answer = _graphql(webserver, query)
    resources = {r["name"]: r for r in answer["allTopLevelResourceDetailsOrError"]["results"]}
    salt = {v["key"]: v for v in resources["data_source"]["configuredValues"]}["pseudonym_salt"]
    assert salt == {"key": "pseudonym_salt", "value": SALT_VARIABLE, "type": "ENV_VAR"}
    assert SALT_VARIABLE in {v["envVarName"] for v in answer["utilizedEnvVarsOrError"]["results"]}
    assert UI_SECRET_SALT not in json.dumps(answer)
