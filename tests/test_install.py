"""crmreport as users install it: a wheel in a fresh virtual environment, run elsewhere.

Offline: the wheel is built without build isolation, installed without dependencies, and the
new environment borrows the dependencies already installed in the environment running pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the build reads; copied so the build leaves no build/ or egg-info in the checkout.
SOURCES = ["pyproject.toml", "setup.py", "README.md", "src", "campaigns", "templates", "reports"]


def _run(*args: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env={**env, "PIP_NO_INDEX": "1"},
                          capture_output=True, text=True)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", tmp / "dist", source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("crmreport-*.whl")
    return wheel


def _venv(tmp: Path, wheel: Path) -> Path:
    """A fresh environment with the wheel, seeing this environment's dependencies.

    A .pth line only appends a folder to sys.path; the .pth files inside it (the editable
    install's finder) are not run, so the checkout cannot shadow the wheel.
    """
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel, cwd=tmp)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp).strip())
    (site / "dev-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def test_wheel_installed_in_a_fresh_venv_runs_the_demo(tmp_path: Path) -> None:
    assert not tmp_path.is_relative_to(ROOT)  # the point is to run away from the checkout
    venv = _venv(tmp_path, _wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    located = _run(venv / "bin" / "python", "-c",
                   "import crmreport; from crmreport.demo import project_file; "
                   "print(crmreport.__file__); print(project_file('campaigns', 'demo.yaml'))",
                   cwd=elsewhere).split()
    assert all(Path(p).is_relative_to(venv) for p in located), located

    _run(venv / "bin" / "crmreport", "demo", "--customers", "500", "--out", "out", cwd=elsewhere)
    out = elsewhere / "out"
    assert (out / "report.html").stat().st_size > 0 and (out / "report.pdf").stat().st_size > 0
    assert any((out / "spring-2026" / "emails").glob("*.eml"))
    assert (out / "spring-2026" / "letters.pdf").stat().st_size > 0

