"""``bin/wtctl``, the launcher installed as ``wtctl``: in a venv (and linked from
elsewhere, as pipx does) it starts Python isolated without the site scan; in any
other layout it still runs wtctl, the usual way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "bin" / "wtctl"


def _venv(tmp_path: Path) -> Path:
    """A venv as pip lays one out: bin/python, bin/wtctl (the launcher) and the
    packages in lib/pythonX.Y/site-packages (links to this checkout's)."""
    venv = tmp_path / "venv"
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(Path(sys.executable).resolve())
    v = sys.version_info
    site_packages = venv / "lib" / f"python{v[0]}.{v[1]}" / "site-packages"
    site_packages.mkdir(parents=True)
    for package in ("wtctl", "wtd"):
        (site_packages / package).symlink_to(REPO / package)
    (bin_dir / "wtctl").write_bytes(LAUNCHER.read_bytes())
    (bin_dir / "wtctl").chmod(0o755)
    return venv


def _version(launcher: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(launcher), "--version", "--verbose"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_in_a_venv_wtctl_starts_isolated_without_the_site_scan(tmp_path: Path) -> None:
    out = _version(_venv(tmp_path) / "bin" / "wtctl")
    assert out.startswith("wtctl ")
    assert "isolated, no site scan" in out


def test_linked_from_another_folder_as_pipx_does_it_still_finds_its_venv(
    tmp_path: Path,
) -> None:
    venv = _venv(tmp_path)
    local_bin = tmp_path / "home" / ".local" / "bin"
    local_bin.mkdir(parents=True)
    (local_bin / "wtctl").symlink_to(os.path.relpath(venv / "bin" / "wtctl", local_bin))
    assert "isolated, no site scan" in _version(local_bin / "wtctl")


def test_where_the_venv_layout_does_not_hold_wtctl_it_starts_the_usual_way(
    tmp_path: Path,
) -> None:
    """An editable install (this test's own interpreter runs one) or a --user one:
    the launcher next to a Python whose site-packages lack wtctl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "wtctl").write_bytes(LAUNCHER.read_bytes())
    (bin_dir / "wtctl").chmod(0o755)
    out = _version(bin_dir / "wtctl")
    assert out.startswith("wtctl ")
