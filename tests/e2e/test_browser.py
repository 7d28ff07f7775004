"""The product as a user meets it: `dagster dev` on 127.0.0.1, driven in Debian's Chromium.

On a small graph backfilled with `make backfill`, the test skips the first-run dialog, opens
the lineage graph, launches a materialization from an asset page and waits for it to succeed,
reads "Passed" on a partitioned asset's Checks tab, and opens `model_evaluation`'s plots and
checks that an image actually loaded. Screenshots go to `test-artifacts/browser/`.

Needs Playwright for Python and a Chromium binary (`.ci/run` installs Debian's `chromium` when
it runs as root; Playwright's own browser download does not work offline). Elsewhere it skips,
saying which is missing.
"""

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.commands import BIN, ROOT, backfill_small_graph, small_env, stop_server

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NEWSLETTER_DIALOG = "Join the Dagster community"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`make ui` over a new data home that `make backfill` filled."""
    work = tmp_path_factory.mktemp("browser")
    env = small_env(work / "home")
    done = backfill_small_graph(work, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    port = _free_port()
    log = (work / "make-ui.log").open("w")  # open for the server's whole life
    # `make ui` as the README shows it: dagster dev (webserver and daemon) on 127.0.0.1.
    server = subprocess.Popen(
        ["make", "ui", f"BIN={BIN}", f"STAMP={work / 'installed'}", f"UI_PORT={port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while True:
            try:
                if _graphql(port, "{ version }"):
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("make ui did not start: " + (work / "make-ui.log").read_text()[-3000:])
            time.sleep(1)
        yield port
    finally:
        stop_server(server)  # make's own process group: dagster dev, webserver, daemon, code server
        log.close()


@pytest.fixture(scope="module")
def page(ui):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=f"http://127.0.0.1:{ui}")
        page = context.new_page()
        page.set_default_timeout(60_000)
        # The UI opens its newsletter dialog a few seconds into the first visit, over whatever
        # the test is about to click: Playwright skips it whenever it shows up.
        page.add_locator_handler(page.get_by_text(NEWSLETTER_DIALOG), lambda: _skip_newsletter(page))
        yield page
        browser.close()


def _skip_newsletter(page, timeout: float | None = None) -> None:
    page.get_by_role("button", name="Skip").click(timeout=timeout)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(1000)
    if page.get_by_text(NEWSLETTER_DIALOG).first.is_visible():  # a screenshot is no action: no handler runs
        with contextlib.suppress(sync_api.TimeoutError):  # the handler may skip it first, inside this click
            _skip_newsletter(page, timeout=5_000)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_lineage_graph_opens(page):
    page.goto("/asset-groups")
    page.get_by_text("Global asset lineage").first.wait_for()
    for group in ("sources", "cleaning", "embeddings", "fusion", "model", "scoring", "mining"):
        page.get_by_text(group, exact=True).first.wait_for()
    _shot(page, "01_asset_lineage")


def _run_errors(port: int, run_id: str) -> list[str]:
    """The error messages of a run's failure events, to say why it did not succeed."""
    events = _graphql(port, '{ logsForRun(runId: "%s") { ... on EventConnection { events { __typename '
                            '... on ErrorEvent { error { message } } } } } }' % run_id)
    return [e["error"]["message"] for e in events["logsForRun"]["events"] if e.get("error")]


def test_materializing_from_the_ui_succeeds(page, ui):
    page.goto("/assets/risk_association_rules")
    # The button's accessible name starts with its icon's ligature ("materialization Materialize").
    page.get_by_role("button", name=re.compile(r"\bMaterialize$")).first.click()
    deadline = time.time() + 600  # a run process imports torch and the definitions first
    status = None
    while time.time() < deadline:
        runs = _graphql(ui, "{ runsOrError { ... on Runs { results { runId status assetSelection { path } } } } }")
        mine = [r for r in runs["runsOrError"]["results"]
                if [k["path"] for k in r["assetSelection"] or []] == [["risk_association_rules"]]]
        status = mine[0]["status"] if mine else None
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", f"{status}: {_run_errors(ui, mine[0]['runId']) if mine else 'no run launched'}"
    page.goto("/assets/risk_association_rules")
    page.get_by_text("strongest_rules").first.wait_for()
    _shot(page, "02_materialized_from_the_ui")


def test_a_partitioned_assets_checks_show_passed(page):
    page.goto("/assets/prices?view=checks")
    page.get_by_text("rows_conserved").first.wait_for()
    page.get_by_text("Passed").first.wait_for()  # the latest execution; the list says "Succeeded"
    page.get_by_text("Succeeded").first.wait_for()
    assert page.get_by_text("Skipped", exact=True).count() == 0
    _shot(page, "03_checks_passed")


def _open_markdown_with_an_image(page):
    """Click the metadata's "[Show Markdown]" links until a dialog holds an image; return it."""
    links = page.get_by_text("[Show Markdown]")
    links.first.wait_for()
    for i in range(links.count()):
        links.nth(i).click()
        image = page.locator("[role=dialog] img, .bp5-dialog img")
        try:
            image.first.wait_for(timeout=5_000)
            return image.first
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError("no markdown metadata with an image on " + page.url)


def test_model_evaluation_shows_a_loaded_plot(page):
    page.goto("/assets/model_evaluation")
    image = _open_markdown_with_an_image(page)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 0
    _shot(page, "04_model_evaluation_plots")


def test_scores_explain_themselves(page):
    page.goto("/assets/risk_scores")
    page.get_by_text("top_default_driver").first.wait_for()
    _shot(page, "05_risk_scores_explained")
