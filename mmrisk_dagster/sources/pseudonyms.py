"""Keyed pseudonyms for people's identifiers, and where their key (the salt) comes from.

A pseudonym is HMAC-SHA256(salt, identifier): stable within a deployment (the same author keeps
one pseudonym across partitions and runs), not reversible without the salt. The salt is a secret:
with a known salt anyone can hash guessed handles and match them. So outside the synthetic demo a
missing salt is an error, never a default; the demo generates a random salt once per data home
and keeps it in a file only its owner can read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

SALT_VARIABLE = "MMRISK_PSEUDONYM_SALT"
MIN_SALT_CHARS = 16  # a short salt can be guessed as easily as the handles it protects
PSEUDONYM_PREFIX = "a_"
DEMO_SALT_SOURCE = "synthetic"  # the only source that may run without a configured salt


class SaltError(RuntimeError):
    """The pseudonymization salt is missing, too short or its file is unusable."""


def _set_salt_hint() -> str:
    return (
        f"set {SALT_VARIABLE} to a long random value kept outside the repository, e.g. "
        f"`export {SALT_VARIABLE}=$(python -c 'import secrets; print(secrets.token_hex(32))')`, "
        "and keep it: a new salt gives every person a new pseudonym"
    )


def pseudonym(value: str, salt: str) -> str:
    return PSEUDONYM_PREFIX + hmac.new(salt.encode(), str(value).encode(), hashlib.sha256).hexdigest()[:16]


def pseudonymize(values: pd.Series, salt: str) -> pd.Series:
    """Each identifier replaced by its pseudonym (nulls stay null)."""
    mapping = {u: pseudonym(u, salt) for u in values.dropna().unique()}
    return values.map(mapping).where(values.notna(), None)


def demo_salt(path: Path) -> str:
    """The synthetic demo's salt: created once (random, mode 0600), then read back.

    Two processes starting at once agree: each writes a private temporary file and links it into
    place, which fails for the second, who then reads the winner's salt.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process created it first: use that salt
        finally:
            scratch.unlink()
    if path.stat().st_mode & 0o077:
        raise SaltError(f"{path} (the demo's pseudonymization salt) is readable by others; run `chmod 600 {path}`")
    salt = path.read_text().strip()
    if len(salt) < MIN_SALT_CHARS:
        raise SaltError(f"{path} holds no usable salt; delete it so that a new one is generated (pseudonyms change)")
    return salt


def resolve_salt(source_kind: str, salt: str | None, demo_salt_file: str) -> str:
    """The salt to pseudonymize with: the configured one, else (synthetic demo only) the data
    home's generated one. Raises `SaltError` saying what to set."""
    if salt:
        if len(salt) < MIN_SALT_CHARS:
            raise SaltError(f"{SALT_VARIABLE} is shorter than {MIN_SALT_CHARS} characters; {_set_salt_hint()}")
        return salt
    if source_kind == DEMO_SALT_SOURCE and demo_salt_file:
        return demo_salt(Path(demo_salt_file))
    raise SaltError(
        f"{SALT_VARIABLE} is not set: the '{source_kind}' source carries people's identifiers, which "
        f"cleaning replaces by keyed pseudonyms; {_set_salt_hint()}"
    )
