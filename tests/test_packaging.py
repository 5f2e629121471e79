"""``pip install`` of the wheel, not editable, gives a working service.

The wheel is built from a copy of what it is made of (so that a stale ``build/`` folder of the checkout
cannot slip removed modules into it), installed with its dependencies in a fresh virtualenv, and started
as ``pv-service demo`` in a folder outside the checkout; the service must then answer over HTTP with the
reference data and the form it found inside the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from demo_server import ROLES, DemoServer, free_port, running_demo

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parent.parent
# What the wheel is made of: the project file, the readme it names, the package, and schemas/ (shipped as
# the package pv_service.schemas).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "pv_service", "schemas")


def run(command: list[str | Path], **options: object) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on failure, fail the test with its output."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def shipped_files(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in WHEEL_SOURCES:
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", source, "--wheel-dir", out, "--no-deps", "--quiet"], timeout=300)
    (built,) = out.glob("pv_service-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package_and_of_schemas(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {f"pv_service/{name}" for name in shipped_files(CHECKOUT / "pv_service")}
    expected |= {f"pv_service/schemas/{name}" for name in shipped_files(CHECKOUT / "schemas")}
    assert "pv_service/schemas/reference/products.json" in expected
    assert "pv_service/storage/migrations/script.py.mako" in expected
    assert sorted(expected - names) == []
    assert not [name for name in names if name.startswith("schemas/")]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (not sharing the suite's site-packages) with the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120)
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel], timeout=600)
    return venv


def outside_the_checkout(data_dir: Path) -> dict[str, str]:
    """The environment of a process that must rely on the installed package alone."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PV_") and name not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env["PV_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_the_installed_package_is_the_one_imported(installed: Path, tmp_path: Path) -> None:
    done = run(
        [installed / "bin" / "python", "-c", "import pv_service; print(pv_service.__file__)"],
        cwd=tmp_path,
        env=outside_the_checkout(tmp_path / "data"),
        timeout=60,
    )
    location = Path(done.stdout.strip())
    assert location.is_relative_to(installed), location
    assert not location.is_relative_to(CHECKOUT)


@pytest.fixture
def demo(installed: Path, tmp_path: Path) -> Iterator[DemoServer]:
    """``pv-service demo`` of the installed package, started in an empty folder."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    port = free_port()
    env = outside_the_checkout(tmp_path / "data")
    with running_demo(
        installed / "bin" / "pv-service", port=port, env=env, log=tmp_path / "demo.stderr", cwd=cwd
    ) as server:
        assert set(server.tokens) == set(ROLES)
        assert server.base_url == f"http://127.0.0.1:{port}"
        yield server


def test_the_installed_demo_serves_reference_data_and_the_form(demo: DemoServer) -> None:
    tokens = demo.tokens
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        assert demo.wait_until_healthy(client).status_code == 200
        staff = {"Authorization": f"Bearer {tokens['pv_staff']}"}
        products = client.get("/api/v1/reference/products", headers=staff)
        assert products.status_code == 200, products.text
        assert {"OIL-T10", "FLOWER-T18"} <= {item["code"] for item in products.json()["products"]}
        form = client.get("/api/v1/forms/adverse-event", headers=staff)
        assert form.status_code == 200, form.text
        assert form.json()["id"] == "adverse-event"
        patients = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {tokens['prescriber']}"})
        assert patients.status_code == 200, patients.text
