"""The published distribution, aitelier-cli (`aitelier` on PyPI is someone else's project): `python -m build` makes a
wheel and an sdist, and the wheel installs into a fresh virtual environment without the dev dependencies and
without the network (`python3 dev.py test` puts the runtime dependencies' wheels in .venv/wheelhouse first)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
VERSION = next(
    line.split('"')[1]
    for line in (REPO / "pyproject.toml").read_text().splitlines()
    if line.startswith("version")
)
WHEEL = f"aitelier_cli-{VERSION}-py3-none-any.whl"
SDIST = f"aitelier_cli-{VERSION}.tar.gz"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the sources, so the checkout gains no build/ or egg-info."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in"):
        shutil.copy2(REPO / name, tree / name)
    shutil.copytree(
        REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    )
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_build_makes_a_wheel_and_an_sdist_of_aitelier_cli(dist: Path) -> None:
    assert sorted(p.name for p in dist.iterdir()) == sorted([WHEEL, SDIST])
    with zipfile.ZipFile(dist / WHEEL) as whl:
        names = set(whl.namelist())
        info = f"aitelier_cli-{VERSION}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    assert "Name: aitelier-cli\n" in metadata and "License-Expression: MIT\n" in metadata
    assert "Project-URL: Changelog, " in metadata and "Classifier: Environment :: Console\n" in metadata
    assert (
        "ait = aitelier.cli.main:run" in entry_points and "aitelier = aitelier.cli.main:run" in entry_points
    )
    assert f"{info}/licenses/LICENSE" in names
    for shipped in (
        "aitelier/py.typed",
        "aitelier/store/example.schema.json",
        "aitelier/evaluate/eval.schema.json",
        "aitelier/examples/customer-support.jsonl",
        "aitelier/examples/code-review.json",
    ):
        assert shipped in names, shipped
    with tarfile.open(dist / SDIST) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "src/aitelier/cli/main.py"} <= members


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_fresh_environment(dist: Path, tmp_path: Path) -> None:
    if not any(WHEELHOUSE.glob("click-*.whl")):
        pytest.fail(f"{WHEELHOUSE} holds no wheels: `python3 dev.py test` fills it before the tests run")
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index"]
    r = subprocess.run(
        [*install, "--find-links", str(WHEELHOUSE), str(dist / WHEEL)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the runtime dependencies only: no test or lint tool came along
    r = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, text=True)
    assert r.returncode == 1 and "No module named 'pytest'" in r.stderr

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AITELIER_", "PYTHON"))}
    clean["NO_COLOR"] = "1"

    def ait(*args: str, name: str = "ait") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / name), *args], capture_output=True, text=True, cwd=tmp_path, env=clean
        )

    r = ait("--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: ait [OPTIONS] COMMAND [ARGS]...")
    assert ait("--version", name="aitelier").stdout == f"aitelier, version {VERSION}\n"
    r = ait("init", "--example", "customer-support", "support")
    assert r.returncode == 0, r.stderr
    r = ait("-C", "support", "stats")
    assert r.returncode == 0, r.stderr
    assert "Examples  40" in r.stdout
    stats = json.loads(ait("-C", "support", "stats", "--json").stdout)
    assert (stats["total"], stats["rated"], stats["unrated"]) == (40, 34, 6)
