"""`confide catalog check` through the real CLI: an agreement without the DTSA notice is warned about."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_CATALOG

ROOT = Path(__file__).parent.parent


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "catalog", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_agreement_without_dtsa_notice_is_warned_about(tmp_path: Path):
    text = EXAMPLE_CATALOG.read_text()
    # The contractor agreement loses its notice; the NDA keeps it.
    contractor = text.index('id = "contractor-nda"')
    text = text[:contractor] + text[contractor:].replace("dtsa_notice = true\n", "", 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text)

    result = check(path)
    assert result.returncode == 0, result.stderr  # a warning, not a refusal
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "agreements[1] (id 'contractor-nda'): dtsa_notice" in warnings[0]
    assert "1833(b)" in warnings[0] and str(path) in warnings[0]
    assert f"{path}: OK (3 secrets, 2 agreements)" in result.stdout


def test_agreements_with_the_notice_pass_without_warnings():
    result = check(EXAMPLE_CATALOG)
    assert result.returncode == 0
    assert "warning" not in result.stdout
    assert "OK (3 secrets, 2 agreements)" in result.stdout


def test_explicit_false_is_warned_about_too(tmp_path: Path):
    path = tmp_path / "catalog.toml"
    path.write_text(EXAMPLE_CATALOG.read_text().replace("dtsa_notice = true", "dtsa_notice = false"))
    result = check(path)
    assert result.returncode == 0
    assert len([line for line in result.stdout.splitlines() if "dtsa_notice" in line]) == 2
