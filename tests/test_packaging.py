"""The package as built: ``python -m build`` makes a wheel and an sdist that ``twine check``
accepts; the wheel alone, in a fresh virtualenv, runs ``openai-usage demo``; the sdist
holds what a packager needs to run the tests, and its tests pass against the wheel.

All of it works offline, with what the dev extra installed:

- The build runs with ``--no-isolation``: hatchling, the backend, comes with the dev
  extra instead of being downloaded into a build environment.
- The fresh virtualenv has no pip of its own (``venv --without-pip``); this environment's
  pip installs the wheel into it (``pip --python``) with ``--no-index --no-deps``, so
  the package can come from the wheel only.
- Its dependencies (aiohttp, msgspec, anyio; pytest for the sdist's tests) cannot be
  downloaded, so a ``.pth`` file in the new virtualenv names this environment's
  site-packages. Python adds a directory named in a ``.pth`` file to ``sys.path`` after
  the virtualenv's own site-packages, and does not read the ``.pth`` files inside it, so
  an editable install of the checkout there stays out. The tests check that the package
  is imported from the new virtualenv, from a directory outside the checkout.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Sequence

import pytest

ROOT = pathlib.Path(__file__).parent.parent

#: What running the tests from an unpacked sdist takes, beyond the package itself: the
#: tests read the docs and mkdocs.yml and import the benchmarks; the build needs the rest.
SDIST_TREES = ("openai_usage_async", "tests", "docs", "benchmarks")
SDIST_FILES = ("pyproject.toml", "README.md", "mkdocs.yml", "PKG-INFO")


def run(command: Sequence[str | pathlib.Path], *, cwd: pathlib.Path, timeout: float = 120) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "PYTHON", "VIRTUAL_ENV"))
    }
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


class Built:
    def __init__(self, out: pathlib.Path) -> None:
        (self.wheel,) = out.glob("*.whl")
        (self.sdist,) = out.glob("*.tar.gz")
        # The sdist's members without their top directory (openai_usage_async-1.2.3/).
        with tarfile.open(self.sdist) as archive:
            self.sdist_names = {name.partition("/")[2] for name in archive.getnames()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel built from the unpacked sdist, as a packager would.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], cwd=out)
    return Built(out)


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtualenv with the wheel installed, its dependencies from this environment."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    run([*pip, "install", "--no-index", "--no-deps", "--quiet", str(built.wheel)], cwd=venv)
    ours = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv)
    here = [*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    lines = "".join(f"{path}\n" for path in dict.fromkeys(here))
    (pathlib.Path(ours.strip()) / "zz_dependencies_from_ci.pth").write_text(lines)
    return venv


def test_twine_accepts_the_wheel_and_the_sdist(built: Built) -> None:
    out = run(
        [sys.executable, "-m", "twine", "check", "--strict", built.wheel, built.sdist],
        cwd=built.wheel.parent,
    )
    assert out.count("PASSED") == 2, out


def test_the_wheel_holds_the_package_alone(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = wheel.read(metadata).decode()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = wheel.read(entry_points).decode()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "openai_usage_async"
    }
    assert "openai_usage_async/py.typed" in names
    assert "openai_usage_async/emulator/pytest_plugin.py" in names
    assert "openai-usage = openai_usage_async.cli:main" in scripts
    assert "Requires-Python: >=3.11" in text
    for requirement in ("aiohttp", "msgspec", "anyio"):
        assert re.search(rf"^Requires-Dist: {requirement}\b", text, re.M), requirement


def test_the_classifiers_name_the_pythons_ci_runs(built: Built) -> None:
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("not a checkout: no .ci/run to compare with (an unpacked sdist)")
    others = re.search(r"^other_pythons=\(([^)]*)\)", ci.read_text(), re.M)
    assert others is not None, ".ci/run: other_pythons=(...) not found"
    with zipfile.ZipFile(built.wheel) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        text = wheel.read(metadata).decode()
    classified = set(
        re.findall(r"^Classifier: Programming Language :: Python :: (3\.\d+)$", text, re.M)
    )
    assert classified == {"3.11", *others[1].split()}
    assert "Classifier: Operating System :: POSIX" in text.splitlines()


def test_the_wheel_alone_runs_the_demo(venv: pathlib.Path, tmp_path: pathlib.Path) -> None:
    where = run(
        [
            venv / "bin" / "python",
            "-c",
            "import openai_usage_async; print(openai_usage_async.__file__)",
        ],
        cwd=tmp_path,
    )
    assert pathlib.Path(where.strip()).is_relative_to(venv), where
    out = run([venv / "bin" / "openai-usage", "demo"], cwd=tmp_path)
    assert re.search(r"^Total cost\b.*\$[\d,]+\.\d\d", out, re.M), out


def repository_files() -> list[str]:
    """The files under SDIST_TREES that git tracks; outside a git checkout, those on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *SDIST_TREES],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [
            path.relative_to(ROOT).as_posix()
            for tree in SDIST_TREES
            for path in (ROOT / tree).rglob("*")
            if "__pycache__" not in path.parts
        ]
    return sorted(name for name in listed if name and (ROOT / name).is_file())


def test_the_sdist_holds_what_the_tests_need(built: Built) -> None:
    files = repository_files()
    assert "tests/conftest.py" in files and "benchmarks/__init__.py" in files
    missing = [name for name in [*SDIST_FILES, *files] if name not in built.sdist_names]
    assert not missing, f"not in {built.sdist.name}: {missing}"
    assert not [n for n in built.sdist_names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_sdists_tests_pass_against_the_wheel(
    built: Built, venv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with tarfile.open(built.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    # Without the package's source beside the tests, they import the installed wheel.
    shutil.rmtree(unpacked / "openai_usage_async")
    python = venv / "bin" / "python"
    where = run([python, "-c", "import openai_usage_async as m; print(m.__file__)"], cwd=unpacked)
    assert pathlib.Path(where.strip()).is_relative_to(venv), where
    out = run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/sansio",
            "tests/e2e/test_endpoints.py",
        ],
        cwd=unpacked,
        timeout=300,
    )
    assert re.search(r"^\d+ passed", out.splitlines()[-1]), out
