"""The scanner against the second corpus of real projects (dev containers, Procfiles, front-end
configs, Spring, puma/gunicorn, task runners), read from ``$PORT_SERVER_CORPUS2``.

That corpus labels one row per listener at the file that decides it, so it is scored per listener
(``corpus_score.score_listeners``); ``ambiguous`` rows are optional and negative projects expect
nothing. Run ``python tests/corpus_score.py DIR`` to print every difference.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corpus_score import score_listeners
from port_server.scanners import KINDS
from port_server.scanners.project import scan_project


def _corpus2() -> Path:
    folder = os.environ.get("PORT_SERVER_CORPUS2", "")
    if not folder or not (Path(folder) / "labels.tsv").is_file():
        message = ("corpus 2 not found: set PORT_SERVER_CORPUS2 to the folder holding"
                   " labels.tsv and projects/")
        if os.environ.get("PORT_SERVER_TEST_STRICT") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Path(folder)


def test_corpus2_precision_and_recall() -> None:
    score = score_listeners(_corpus2())
    assert len(score.required) > 30  # the labels were read
    assert score.precision >= 0.98, sorted(score.false_positives)
    assert score.recall >= 0.98, sorted(score.false_negatives)


def test_corpus2_scans_without_problems() -> None:
    corpus = _corpus2()
    projects = sorted(p for p in (corpus / "projects").iterdir() if p.is_dir())
    assert len(projects) > 30
    for project in projects:
        result = scan_project(project, environ={})
        assert result.problems == [], project.name
        for claim in result.claims:
            assert claim.kind in KINDS or claim.extra.get("source"), claim
            assert claim.line >= 1 and not claim.file.startswith("/")
            if claim.kind not in ("compose", "npm", "env", "make", "script"):
                assert claim.extra["source"], claim  # every new finding names its key
