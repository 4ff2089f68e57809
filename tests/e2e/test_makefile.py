"""The Makefile's interpreter check and its rebuild of a stale .venv, run by the real ``make`` in a copy of the
project, on a PATH that holds only the tools it uses and the interpreters each test puts there.

The Python 3.10 here is a stand-in script (it answers version checks as 3.10 would and makes a "venv" whose python
is itself), and also a real 3.10 where this machine has one installed beside the test's own (pyenv's layout); the
new-enough one is this machine's real interpreter. The project install is replaced (``INSTALL=``)
by one that writes a fake ``arxiv-bot`` which records how it is called: the Makefile's logic is what is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOOLS = ("make", "sh", "cat", "cksum", "cut", "rm", "touch", "head", "mkdir", "cp", "chmod", "printf", "echo",
         "test", "[", "ln", "readlink", "dirname", "basename", "env", "uname", "sed", "grep")  # fmt: skip

PYTHON_310 = """#!/bin/sh
# Python 3.10 as the Makefile sees it: every version check fails; -m venv makes a venv whose python is this script.
case "$1" in
    --version) echo "Python 3.10.13" ;;
    -c) exit 1 ;;
    -m) dir=$(eval echo "\\${$#}"); mkdir -p "$dir/bin" && cp "$0" "$dir/bin/python" \\
        && printf 'version = 3.10.13\\n' > "$dir/pyvenv.cfg" ;;
esac
"""

UNINSTALLED_SHIM = """#!/bin/sh
# A pyenv shim for a version that is not installed: on PATH, but it does not run.
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
"""

FAKE_INSTALL = (
    "printf '#!/bin/sh\\necho \"$$@\" >> calls.log\\necho arxiv-bot \"$$@\"\\n' > $(BIN)/arxiv-bot"
    " && chmod +x $(BIN)/arxiv-bot && echo installed >> installs.log"
)
"""Instead of pip: an arxiv-bot that logs its arguments to calls.log; each install is a line of installs.log."""


def real_python() -> Path:
    """This machine's interpreter (not the test's virtualenv one): new enough, and able to make a venv."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert base.exists(), base
    return base


def real_310s() -> list[Path]:
    """Real Python 3.10 interpreters installed beside this one (pyenv keeps each version in a sibling folder)."""
    return sorted(Path(sys.base_prefix).parent.glob("3.10*/bin/python3.10"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the Makefile and pyproject.toml (all the Makefile reads) in a fresh folder."""
    folder = tmp_path / "clone"
    folder.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def path_with(tmp_path: Path, **interpreters: str | Path) -> str:
    """A PATH of the tools make needs plus ``interpreters`` (name -> script text, or a real interpreter to link)."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is not None and not (tools / tool).exists():
            (tools / tool).symlink_to(found)
    pythons = tmp_path / "pythons"
    pythons.mkdir(exist_ok=True)
    for name, what in interpreters.items():
        target = pythons / name.replace("_", ".")
        if isinstance(what, Path):
            target.symlink_to(what)
        else:
            target.write_text(what)
            target.chmod(0o755)
    return f"{pythons}:{tools}"


def make(project: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(project.parent)}
    return subprocess.run(["make", "--no-print-directory", *args, f"INSTALL={FAKE_INSTALL}"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def venv_version(project: Path) -> str:
    cfg = (project / ".venv" / "pyvenv.cfg").read_text()
    return next(line.split("=", 1)[1].strip() for line in cfg.splitlines() if line.startswith("version"))


def installs(project: Path) -> int:
    log = project / "installs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_python_that_is_too_old_is_refused_with_one_line_and_no_venv(project: Path, tmp_path: Path) -> None:
    path = path_with(tmp_path, python3_10=PYTHON_310, python3_11=real_python())
    result = make(project, path, "run", "PYTHON=python3.10")
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if line.startswith("make: Python")]
    assert line.startswith("make: Python 3.11 or newer is needed, and python3.10 is Python 3.10.13"), result.stderr
    assert "PYTHON=python3.11" in line
    assert not (project / ".venv").exists() and installs(project) == 0


def test_no_new_enough_python_on_path_is_one_line_naming_what_was_tried(project: Path, tmp_path: Path) -> None:
    path = path_with(tmp_path, python3_10=PYTHON_310, python3_13=UNINSTALLED_SHIM, python3=PYTHON_310)
    result = make(project, path, "run")
    assert result.returncode != 0
    assert ("make: Python 3.11 or newer is needed and none of python3.13 python3.12 python3.11 python3 is"
            in result.stderr), result.stderr  # fmt: skip
    assert not (project / ".venv").exists()


@pytest.mark.parametrize("old", [PYTHON_310, *real_310s()], ids=lambda old: "real" if isinstance(old, Path) else "stub")
def test_a_fresh_clone_with_a_stale_310_venv_recovers_by_itself_on_make_run(
    project: Path, tmp_path: Path, old: str | Path
) -> None:
    path = path_with(tmp_path, python3_10=old, python3_13=UNINSTALLED_SHIM, python3_11=real_python())
    made = subprocess.run(["python3.10", "-m", "venv", "--without-pip", ".venv"], cwd=project, env={"PATH": path},
                          timeout=120)  # fmt: skip
    assert made.returncode == 0 and venv_version(project).startswith("3.10.")
    (project / ".venv" / f".installed-{stamp_sum(project)}").touch()  # even a stamp that looks current

    first = make(project, path, "run")
    assert first.returncode == 0, first.stderr
    assert "make: .venv was made with Python 3.10." in first.stdout
    assert "; rebuilding it with python3.11" in first.stdout
    assert venv_version(project).startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert first.stdout.rstrip().endswith("arxiv-bot run") and installs(project) == 1

    again = make(project, path, "run")
    assert again.returncode == 0, again.stderr
    assert "rebuilding" not in again.stdout and installs(project) == 1  # a good .venv is kept
    # `make run` starts the bot once; `arxiv-bot run` migrates by itself, so make does not migrate first.
    assert (project / "calls.log").read_text().splitlines() == ["run", "run"]


def test_a_venv_whose_python_is_gone_is_rebuilt_and_a_given_python_is_used(project: Path, tmp_path: Path) -> None:
    path = path_with(tmp_path, python3_11=real_python())
    venv = project / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(tmp_path / "uninstalled" / "python3.11")  # a dangling link
    result = make(project, path, "venv", f"PYTHON={real_python()}")
    assert result.returncode == 0, result.stderr
    assert "make: .venv was made with a Python that is gone; rebuilding it with" in result.stdout
    assert os.access(venv / "python", os.X_OK) and installs(project) == 1


def stamp_sum(project: Path) -> str:
    """The checksum the Makefile names its stamp after."""
    text = subprocess.run(["cksum"], input=(project / "pyproject.toml").read_bytes(), capture_output=True, check=True)
    return text.stdout.decode().split()[0]
