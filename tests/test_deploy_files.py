"""The files a PaaS deploy reads, checked against the code they deploy: the Procfile's
command, the settings of bot/settings.py, and pyproject.toml's dependencies."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pydantic import SecretStr

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# The platform sets PORT itself (and a worker serves no HTTP), and REDIS_URL with its Redis
# add-on: not config vars to declare.
SET_BY_THE_PLATFORM = {"PORT", "REDIS_URL"}
# Without these `gathr-bot run` in Socket Mode (the worker formation) stops at start-up.
REQUIRED_FOR_THE_WORKER = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GATHR_TOKEN"}


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def secret_names() -> set[str]:
    return {
        name.upper()
        for name, field in Settings.model_fields.items()
        if field.annotation is not None and SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            return command.strip()
    raise AssertionError(f"no {process} process in the Procfile")


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in (ROOT / "requirements.lock").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"requirements.lock: {line!r} is not an exact name==version pin"
        pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


# -- the secret detection itself, so that a test below cannot pass on an empty set ------------


def test_the_secrets_are_the_four_tokens_and_secrets() -> None:
    assert secret_names() == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "GATHR_TOKEN"}


# -- the lock and requirements.txt --------------------------------------------------------------


def test_the_lock_pins_every_runtime_dependency_exactly_within_pyproject_s_ranges() -> None:
    pins = lock()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"requirements.lock does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}"
        )


def test_the_lock_holds_no_test_tool_and_not_the_bot_itself() -> None:
    pins = lock()
    assert "gathr-bot" not in pins
    assert not {"pytest", "mypy", "responses", "hypothesis"} & set(pins)


def test_requirements_txt_installs_the_lock_then_this_package() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines == ["-r requirements.lock", "."]


def test_the_lock_is_regenerated_by_one_documented_command() -> None:
    script = ROOT / "scripts" / "lock"
    assert script.stat().st_mode & 0o111, "scripts/lock is not executable"
    assert "scripts/lock" in (ROOT / "README.md").read_text()
    assert "scripts/lock" in (ROOT / "requirements.lock").read_text()


# -- the Python version -------------------------------------------------------------------------


def test_python_version_is_pinned_to_a_version_pyproject_allows_and_this_machine_runs() -> None:
    pinned = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+(\.\d+)?", pinned), pinned
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains(pinned if pinned.count(".") == 2 else pinned + ".0")
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert pinned.split(".")[:2] == running.split("."), "the tests run on another Python than the deploy"


# -- Heroku: app.json ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return loaded


def test_app_json_runs_one_worker_and_no_web_dyno(app_json: dict[str, Any]) -> None:
    formation = app_json["formation"]
    assert formation["worker"]["quantity"] == 1
    assert "web" not in formation
    assert set(formation) <= {"worker"}
    assert procfile_command("worker") == "gathr-bot run"


def test_app_json_uses_the_python_buildpack(app_json: dict[str, Any]) -> None:
    assert {"url": "heroku/python"} in app_json["buildpacks"]


def test_app_json_documents_every_setting_with_its_description_and_required_flag(
    app_json: dict[str, Any],
) -> None:
    env = app_json["env"]
    assert set(env) == setting_names() - SET_BY_THE_PLATFORM
    for name, variable in env.items():
        assert isinstance(variable.get("description"), str) and len(variable["description"]) > 10, name
        assert variable.get("required") is (name in REQUIRED_FOR_THE_WORKER), name
        assert "value" not in variable or name not in secret_names(), f"{name}: a secret with a value"


def test_app_json_adds_the_key_value_store_whose_redis_url_the_bot_reads(app_json: dict[str, Any]) -> None:
    """Heroku's Key-Value Store (the `heroku-redis` add-on) sets REDIS_URL, the store used
    while GATHR_STATE_URL is unset: waits, watches and the history outlive a dyno's restart."""
    plans = [addon if isinstance(addon, str) else addon["plan"] for addon in app_json["addons"]]
    assert "heroku-redis:mini" in plans
    attached = [a for a in app_json["addons"] if not isinstance(a, str) and a["plan"] == "heroku-redis:mini"]
    assert all(a.get("as", "REDIS") == "REDIS" for a in attached)  # so REDIS_URL, not another name
    assert "ssl_cert_reqs=none" in app_json["env"]["GATHR_STATE_URL"]["description"]


def test_every_setting_app_json_declares_is_in_the_readme(app_json: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    for name in app_json["env"]:
        assert f"`{name}`" in readme or name in readme, f"{name} is not in the README's settings"


# -- Render: render.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def render_services() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load((ROOT / "render.yaml").read_text())["services"]
    return loaded


@pytest.fixture(scope="module")
def render_worker(render_services: list[dict[str, Any]]) -> dict[str, Any]:
    [service] = [s for s in render_services if s["type"] != "keyvalue"]
    return service


def test_render_wires_a_key_value_instance_to_redis_url(
    render_services: list[dict[str, Any]], render_worker: dict[str, Any]
) -> None:
    [store] = [s for s in render_services if s["type"] == "keyvalue"]
    assert store["ipAllowList"] == []  # reached from the worker only, over Render's private network
    assert store["maxmemoryPolicy"] == "noeviction"  # state, not a cache: never dropped to make room
    [wired] = [v for v in render_worker["envVars"] if v["key"] == "REDIS_URL"]
    assert wired["fromService"] == {"type": "keyvalue", "name": store["name"], "property": "connectionString"}


def test_render_runs_a_background_worker_with_the_procfile_s_command(render_worker: dict[str, Any]) -> None:
    assert render_worker["type"] == "worker"
    assert render_worker["runtime"] == "python"
    assert render_worker["startCommand"] == procfile_command("worker")
    assert render_worker["buildCommand"] == "pip install -r requirements.txt"


def test_render_asks_for_every_secret_and_stores_none(render_worker: dict[str, Any]) -> None:
    variables = {entry["key"]: entry for entry in render_worker["envVars"]}
    assert set(variables) <= setting_names() | {"PYTHON_VERSION", "REDIS_URL"}
    for name in REQUIRED_FOR_THE_WORKER:
        assert variables[name] == {"key": name, "sync": False}, name
    for name in secret_names() & set(variables):
        assert variables[name].get("sync") is False and "value" not in variables[name], name


def test_the_installed_package_holds_every_module(tmp_path: Path) -> None:
    """A PaaS installs the bot from `requirements.txt` (`.`, not editable): the wheel must
    hold every module, sub-packages included, or the deployed bot fails on an import."""
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "source"  # a copy: building leaves build/ and *.egg-info behind
    shutil.copytree(ROOT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    (wheel,) = tmp_path.glob("*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("bot/")}
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "bot").rglob("*.py")}
    assert modules <= shipped, sorted(modules - shipped)
