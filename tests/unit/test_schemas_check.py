"""`casebus schemas check`: passes on the repository, fails on incompatible or misnamed files."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from casebus.commands import schemas
from streams.schema_registry import DEFAULT_SCHEMAS_DIR

pytestmark = pytest.mark.unit


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="casebus")
    schemas.register(parser.add_subparsers())
    args = parser.parse_args(["schemas", "check", *argv])
    code: int = args.func(args)
    return code


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, folder)
    return folder


def _add_v2(folder: Path, change: Any) -> Path:
    schema = json.loads((folder / "qa_result" / "v1.avsc").read_text())
    change(schema)
    path = folder / "qa_result" / "v2.avsc"
    path.write_text(json.dumps(schema))
    return path


def test_repository_schemas_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run() == 0
    assert "schemas ok: 7 version(s) of 7 record(s)" in capsys.readouterr().out


def test_compatible_v2_passes(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _add_v2(
        folder,
        lambda s: s["fields"].append({"name": "lab", "type": ["null", "string"], "default": None}),
    )
    assert _run("--dir", str(folder)) == 0


def test_new_required_field_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)
    v2 = _add_v2(folder, lambda s: s["fields"].append({"name": "lab", "type": "string"}))
    assert _run("--dir", str(folder)) == 1
    err = capsys.readouterr().err
    assert f"{v2}: not FULL-compatible with v1: v2 cannot read data written with v1" in err
    assert "reader_field_missing_default_value" in err


def test_removed_enum_symbol_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)

    def drop_failed(schema: dict[str, Any]) -> None:
        outcome = next(f for f in schema["fields"] if f["name"] == "outcome")
        outcome["type"]["symbols"] = ["PASSED"]

    _add_v2(folder, drop_failed)
    assert _run("--dir", str(folder)) == 1
    assert "missing_enum_symbols" in capsys.readouterr().err


def test_wrong_record_name_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)
    _add_v2(folder, lambda s: s.update(name="QAResult"))
    assert _run("--dir", str(folder)) == 1
    assert "directory 'qa_result' must hold record 'QaResult'" in capsys.readouterr().err


def test_wrong_namespace_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)
    _add_v2(folder, lambda s: s.update(namespace="casebus"))
    assert _run("--dir", str(folder)) == 1
    assert "namespace must be 'casebus.events'" in capsys.readouterr().err


def test_unparsable_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)
    (folder / "qa_result" / "v2.avsc").write_text("{not json")
    assert _run("--dir", str(folder)) == 1
    assert "v2.avsc: not valid JSON" in capsys.readouterr().err


def test_version_gap_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(tmp_path)
    shutil.copy(folder / "qa_result" / "v1.avsc", folder / "qa_result" / "v3.avsc")
    assert _run("--dir", str(folder)) == 1
    assert "versions [1, 3] are not numbered 1..2" in capsys.readouterr().err
