"""Dagster's production storage for real: a PostgreSQL server (Debian's `postgresql`, which
`.ci/run` installs when root) started on 127.0.0.1 for this test, the instance configured with
`dagster-postgres` for run, event-log and schedule storage over TLS (`sslmode=verify-full`, as
`deploy/dagster.yaml`; the server refuses plain connections), and two partitioned runs of raw and
cleaned prices with their checks at once. Materializations and check results must land there."""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.integration.test_concurrency import ROOT, tiny_environment

# Debian installs the server binaries under /usr/lib/postgresql/<major>/bin, off the PATH.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"))
pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() and shutil.which("initdb") is None,
    reason="no PostgreSQL server binaries (Debian package `postgresql`; .ci/run installs it when root)",
)
RANGES = [("2024-01-01", "2024-01-19"), ("2024-01-22", "2024-02-09")]


def _binary(name: str) -> str:
    return str(PG_BIN / name) if (PG_BIN / name).exists() else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificates(folder: Path, user) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; returns the CA file."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=mmrisk-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    (folder / "server.key").chmod(0o600)  # PostgreSQL refuses a key others can read
    if user:
        for path in (folder, *folder.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
    return folder / "ca.crt"


@pytest.fixture(scope="module")
def postgres():
    """A local server that speaks TLS only with the certificate of a CA made for it: (port, CA file)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary to make the test server's TLS certificate")
    # Outside pytest's private (mode 0700, root-owned) temporary folders: the server's user needs it.
    data = Path(tempfile.mkdtemp(prefix="mmrisk-pg-")) / "data"
    # PostgreSQL refuses to run as root: run it as the `postgres` user then.
    user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    as_user = (lambda cmd: ["runuser", "-u", "postgres", "--", *cmd]) if user else (lambda cmd: cmd)
    data.parent.chmod(0o777)
    tls = data.parent / "tls"
    ca = _certificates(tls, user)
    subprocess.run(as_user([_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "dagster"]),
                   check=True, capture_output=True)
    # TLS connections only: plain TCP from 127.0.0.1 is refused (pg_hba `hostssl`).
    (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    port = _free_port()
    subprocess.run(as_user([_binary("pg_ctl"), "-D", str(data), "-w", "-l", str(data.parent / "log"), "-o",
                            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={data.parent} "
                            f"-c ssl=on -c ssl_cert_file={tls / 'server.crt'} -c ssl_key_file={tls / 'server.key'}",
                            "start"]), check=True, capture_output=True)
    try:
        yield port, ca
    finally:
        subprocess.run(as_user([_binary("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(data.parent, ignore_errors=True)


def test_plain_connections_are_refused_and_tls_ones_verify_the_server(postgres):
    import psycopg2

    port, ca = postgres
    with pytest.raises(psycopg2.OperationalError, match="no encryption|SSL off"):
        psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="postgres", sslmode="disable")
    with psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="postgres", sslmode="verify-full",
                          sslrootcert=str(ca)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cursor.fetchone() == (True,)


def test_two_runs_at_once_land_their_materializations_and_checks_in_postgres(postgres, tmp_path):
    port, ca = postgres
    env = tiny_environment(tmp_path)
    dagster_home = Path(env["DAGSTER_HOME"])
    (dagster_home / "dagster.yaml").write_text(
        # `+psycopg2`: SQLAlchemy 2.1 would otherwise pick psycopg 3, which dagster-postgres does not support.
        # verify-full, as deploy/dagster.yaml: TLS with the server's certificate and name checked.
        "telemetry:\n  enabled: false\nstorage:\n  postgres:\n"
        f"    postgres_url: postgresql+psycopg2://dagster@127.0.0.1:{port}/postgres"
        f"?sslmode=verify-full&sslrootcert={ca}\n"
    )
    env = {**env, "MMRISK_TEST_JOB": "cleaning_job"}
    # Create the schema once first, as a deployment does (`dagster instance migrate`): two processes
    # opening a fresh database at once race on CREATE TABLE.
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    runs = [subprocess.Popen([sys.executable, "-m", "tests.integration.fault_run", first, last], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for first, last in RANGES]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [o[-2000:] for o in outputs]

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        records = instance.get_runs()
        assert len(records) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in records)
        stored = instance.get_materialized_partitions(dg.AssetKey("prices"))
        expected = {d.strftime("%Y-%m-%d") for first, last in RANGES for d in pd.bdate_range(first, last)}
        assert stored == expected
        checks = [e for r in records
                  for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        names = {(e.dagster_event.event_specific_data.asset_key.to_user_string(),
                  e.dagster_event.event_specific_data.check_name) for e in checks}
        assert {("prices", "rows_conserved"), ("prices", "expectations"), ("raw_prices", "expectations")} <= names
        assert len(checks) == len(expected) * len(names), "one evaluation per check and partition"
    finally:
        instance.dispose()
