"""Headless Chromium (Debian's `chromium` package, installed by scripts/ensure-chromium): prints the board report to
PDF. Chromium's background networking is switched off (the report is a local file with everything inline) and
nothing is kept between runs: every run gets a fresh profile directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_SECONDS = 180


def chromium() -> str:
    """The Chromium executable: MASH_CHROMIUM if set, else `chromium` on PATH."""
    found = os.environ.get("MASH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("headless Chromium not found: install the Debian package 'chromium' "
                           "(scripts/ensure-chromium does) or set MASH_CHROMIUM")
    return found


def run_chromium(*args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with the hub's flags, a fresh profile and the given arguments; raise if it fails."""
    with tempfile.TemporaryDirectory(prefix="mash-chromium-") as profile:
        result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited with {result.returncode}: {result.stderr[-500:]}")
    return result


def print_pdf(html: Path, pdf: Path) -> Path:
    """Print the HTML file to PDF (A4, as its print stylesheet lays it out), without header or footer."""
    pdf.unlink(missing_ok=True)
    run_chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri())
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no PDF for {html.name}")
    return pdf
