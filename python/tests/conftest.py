"""Shared fixtures: the shared real replays (``$EXPHIL_REPLAYS``, else ``../shared/replays``
beside the checkout) with their ``MANIFEST.tsv``, and the ``exphil`` binary for the CLI
comparisons (``$EXPHIL_BIN``)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]


def replays_dir() -> Path:
    """The shared replay folder; a missing one fails loudly (these tests never skip)."""
    env = os.environ.get("EXPHIL_REPLAYS")
    d = Path(env) if env else REPO.parent / "shared" / "replays"
    assert (d / "MANIFEST.tsv").is_file(), (
        f"real replays not found at {d} (set EXPHIL_REPLAYS or put the shared folder beside "
        "the checkout)"
    )
    return d


def manifest() -> List[Dict[str, str]]:
    """The rows of ``MANIFEST.tsv``, each with its absolute ``path``."""
    d = replays_dir()
    with open(d / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["path"] = str(d / r["file"])
    return rows


def games() -> List[Dict[str, str]]:
    """The complete 1v1 games (``games/``)."""
    return [r for r in manifest() if r["file"].startswith("games/")]


def edge() -> List[Dict[str, str]]:
    """The odd and bad files (``edge/``)."""
    return [r for r in manifest() if r["file"].startswith("edge/")]


def not_a_replay(row: Dict[str, str]) -> bool:
    """Whether the manifest says the file is not a replay at all."""
    return row["notes"].startswith("not a replay")


@pytest.fixture(scope="session")
def exphil_bin() -> Optional[str]:
    """The ``exphil`` binary (``$EXPHIL_BIN``). Unset: the CLI comparisons skip, except under
    CI (``$CI`` set), where they fail instead."""
    path = os.environ.get("EXPHIL_BIN")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("CI must set EXPHIL_BIN to the exphil binary for the CLI comparisons")
        pytest.skip("EXPHIL_BIN is not set: no exphil binary to compare against")
    assert Path(path).is_file() or shutil.which(path), f"EXPHIL_BIN={path} is not a file"
    return path
