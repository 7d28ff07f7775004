"""Where the pseudonymization salt comes from, and what happens when it is missing."""

import stat

import dagster as dg
import pandas as pd
import pytest

from mmrisk_dagster.assets.raw import raw_assets
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE, SaltError, demo_salt, pseudonymize, resolve_salt


def test_the_demo_salt_is_random_created_once_and_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "secrets" / "pseudonym_salt"
    first = demo_salt(path)
    assert demo_salt(path) == first and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_salt(tmp_path / "elsewhere" / "pseudonym_salt") != first
    assert list(path.parent.iterdir()) == [path], "no temporary file is left behind"


def test_a_salt_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "pseudonym_salt"
    demo_salt(path)
    path.chmod(0o644)
    with pytest.raises(SaltError, match=r"readable by others; run `chmod 600 .*pseudonym_salt`"):
        demo_salt(path)


def test_only_the_synthetic_demo_may_run_without_a_configured_salt(tmp_path):
    file = str(tmp_path / "pseudonym_salt")
    assert resolve_salt("synthetic", None, file) == demo_salt(tmp_path / "pseudonym_salt")
    assert resolve_salt("synthetic", "configured-salt-0123456789", file) == "configured-salt-0123456789"
    for kind in ("files", "stocknet"):
        with pytest.raises(SaltError, match=rf"{SALT_VARIABLE} is not set: the '{kind}' source carries people's"):
            resolve_salt(kind, None, file)
    with pytest.raises(SaltError, match="shorter than 16 characters"):
        resolve_salt("files", "short", file)


def test_a_run_without_the_salt_fails_at_its_start_saying_what_to_set(tmp_path):
    result = dg.materialize(
        raw_assets[:1],
        resources={"data_source": DataSourceResource(kind="files", path=str(tmp_path))},
        partition_key="2024-01-02",
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_failure]
    message = str(failures[0].event_specific_data.error.cause or failures[0].event_specific_data.error)
    assert f"{SALT_VARIABLE} is not set" in message and "token_hex" in message


def test_pseudonyms_are_keyed_stable_and_keep_nulls():
    ids = pd.Series(["@alice", "@bob", "@alice", None])
    first = pseudonymize(ids, "k1-0123456789abcdef")
    assert first.tolist() == pseudonymize(ids, "k1-0123456789abcdef").tolist()
    assert first[0] == first[2] != first[1] and first[3] is None
    assert pseudonymize(ids, "k2-0123456789abcdef")[0] != first[0]
