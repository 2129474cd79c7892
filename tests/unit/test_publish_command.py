"""`casebus publish` on input with no valid line: every line reported, no broker needed."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from casebus.commands import publish
from streams.jsonlines import event_to_json
from tests.golden_events import GOLDEN_EVENTS

pytestmark = pytest.mark.unit


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="casebus")
    publish.register(parser.add_subparsers())
    args = parser.parse_args(["publish", *argv])
    code: int = args.func(args)
    return code


def _bad_lines() -> bytes:
    unknown_site = {**event_to_json(GOLDEN_EVENTS["registration_v1"]), "site_id": "XX"}
    return b"\n".join([b"{}", b"", json.dumps(unknown_site).encode(), b"\xff\xfe"]) + b"\n"


def test_every_invalid_line_is_reported_with_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_bad_lines())
    assert _run(str(path)) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "line 1: missing field 'type' (one of registration, sample_received, qa_result, "
        "review_complete)",
        "line 3: registration.site_id: 'XX' is not a site of the registry",
        "line 4: not UTF-8 at byte 0",
    ]
    assert out == "published 0, invalid 3\n"


def test_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[]\n")))
    assert _run("-") == 1
    assert capsys.readouterr().err == "line 1: expected a JSON object, got array\n"


def test_missing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(str(tmp_path / "absent.jsonl")) == 2
    assert capsys.readouterr().err.startswith("error: [Errno 2] No such file or directory")
