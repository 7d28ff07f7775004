"""Fingerprints of the `files` source folder, so a sensor can tell when new data has landed.

A fingerprint maps each table file's name to its modification time and size: cheap to take
every minute (nothing is read), and any rewrite, append, new or removed file changes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mmrisk_dagster.sources.files import SUFFIXES


def folder_fingerprint(path: str) -> dict[str, str]:
    """`{file name: "mtime_ns:size"}` of the folder's data files (others, e.g. READMEs, ignored)."""
    folder = Path(path)
    if not folder.is_dir():
        return {}
    return {
        entry.name: f"{entry.stat().st_mtime_ns}:{entry.stat().st_size}"
        for entry in sorted(folder.iterdir())
        if entry.is_file() and entry.suffix.lower() in SUFFIXES
    }


def changed_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Files that are new, rewritten or removed since `previous`."""
    return sorted(name for name in previous.keys() | current.keys() if previous.get(name) != current.get(name))


def fingerprint_key(fingerprint: dict[str, str]) -> str:
    """A short stable id of a folder state (the same state never triggers twice)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
