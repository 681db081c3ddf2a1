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


def installed_venv(tmp_path: Path) -> Path:
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


# What the one-shot path must not import: each costs every wtctl call milliseconds (json's
# decoder imports re, re imports enum, functools and collections; socket brings enum and
# selectors). ``--json`` and the subcommands may import what they need, later.
NEVER_ON_THE_ONE_SHOT_PATH = frozenset(
    {"json", "re", "enum", "struct", "typing", "functools", "collections", "socket"}
)
SHOW_MODULES = 'print("modules:", *sorted(sys.modules))'


def launcher_code(then: str) -> str:
    """The Python program bin/wtctl runs (its ``-c``), with ``then`` in place of its
    last line, ``sys.exit(main(exit_now=True))``."""
    program = LAUNCHER.read_text().split(" -c '", 1)[1].rsplit('\' "$@"', 1)[0].rstrip()
    assert program.endswith("\nsys.exit(main(exit_now=True))"), program
    return program.removesuffix("sys.exit(main(exit_now=True))") + then


def imported(stdout: str) -> set[str]:
    """The modules that a ``launcher_code(... SHOW_MODULES)`` program had imported when
    it printed them (its last line)."""
    last = stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("modules: "), stdout
    return set(last.split()[1:])


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
    out = _version(installed_venv(tmp_path) / "bin" / "wtctl")
    assert out.startswith("wtctl ")
    assert "isolated, no site scan" in out


def test_linked_from_another_folder_as_pipx_does_it_still_finds_its_venv(
    tmp_path: Path,
) -> None:
    venv = installed_venv(tmp_path)
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


def test_the_one_shot_imports_neither_json_nor_re_enum_struct_or_typing(tmp_path: Path) -> None:
    """``wtctl.cli`` imported as the launcher imports it, in a fresh isolated Python."""
    python = installed_venv(tmp_path) / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-I", "-S", "-c", launcher_code(SHOW_MODULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    modules = imported(proc.stdout)
    assert {"wtctl.cli", "wtd.wire"} <= modules and "site" not in modules
    assert not modules & NEVER_ON_THE_ONE_SHOT_PATH
