"""Dockerfile, .dockerignore and docker-compose.yml, checked by what they do (no Docker engine here).

Nothing is asserted line by line. The files the image copies are assembled as the Dockerfile copies them and must
be enough to migrate a database and check the configuration under the image's environment; the entrypoint must
be our console script; the healthcheck command must pass against a running bot and fail without one; compose
must set only settings the bot knows and pass secrets through without writing them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import posixpath
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from adapters.cli import build_parser
from adapters.composition import Services
from adapters.discord.runtime import sync_state_path
from adapters.runtime import BotRuntime
from bot.config import ENV_PREFIX, Settings, load_settings
from bot.store.database import sqlite_path
from bot.store.process_lock import lock_path
from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(s for s in DOCKERFILE.splitlines() if not s.lstrip().startswith("#")))
    found = []
    for line in logical.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> dict[str, list[Instruction]]:
    """The instructions of each stage, by stage name (the last stage is the image)."""
    result: dict[str, list[Instruction]] = {}
    current: list[Instruction] = []
    for word, rest in instructions():
        if word == "FROM":
            current = []
            image, _, name = rest.partition(" AS ")
            result[name.strip() or image] = current
        current.append((word, rest))
    return result


def image_stage() -> list[Instruction]:
    return list(stages().values())[-1]


def last(stage: list[Instruction], word: str) -> str:
    return [rest for w, rest in stage if w == word][-1]


def image_env() -> dict[str, str]:
    """The ENV of the image (``ENV A=1 B=2`` forms)."""
    env: dict[str, str] = {}
    for word, rest in image_stage():
        if word == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                env[name] = value
    return env


def image_settings() -> Settings:
    """The settings the image runs with: our config.toml (it is copied in) under the image's ENV."""
    return load_settings(ROOT / "config.toml", env=image_env())


def healthcheck_command() -> str:
    return last(image_stage(), "HEALTHCHECK").split(" CMD ", 1)[1]


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matches(path: str, pattern: str) -> bool:
    """Whether ``path`` or a folder above it matches a .dockerignore pattern (``**`` spans folders)."""
    regex = re.escape(pattern.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
    regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def docker_ignored(path: str) -> bool:
    """Whether the build context leaves ``path`` out (the last matching pattern wins; ``!`` re-includes)."""
    ignored = False
    for pattern in dockerignore_patterns():
        if pattern.startswith("!"):
            if _matches(path, pattern[1:]):
                ignored = False
        elif _matches(path, pattern):
            ignored = True
    return ignored


def context_copies() -> list[tuple[str, str]]:
    """(source in the context, absolute destination) of every COPY of the build context, in order."""
    copies = []
    for stage in stages().values():
        workdir = "/"
        for word, rest in stage:
            if word == "WORKDIR":
                workdir = posixpath.join(workdir, rest)
            elif word == "COPY" and not rest.startswith("--from"):
                *sources, target = shlex.split(rest)
                target = posixpath.join(workdir, target)
                for source in sources:
                    into = posixpath.join(target, posixpath.basename(source)) if target.endswith("/") else target
                    copies.append((source, posixpath.normpath(into)))
    return copies


def assemble_build_context_copies(root: Path) -> None:
    """Lay out under ``root`` what the COPY instructions put in the image, leaving out docker-ignored files."""
    for source, target in context_copies():
        origin = ROOT / source
        files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if docker_ignored(relative):
                continue
            inside = file.relative_to(origin).as_posix() if origin.is_dir() else ""
            dest = root / (posixpath.join(target, inside) if inside else target).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, dest)


def test_every_copied_path_exists_and_secrets_and_local_state_stay_out_of_the_context() -> None:
    copied = [source for source, _ in context_copies()]
    assert copied, "the Dockerfile copies nothing from the build context"
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not docker_ignored(path), path
    readme = PYPROJECT["project"]["readme"]
    assert readme in copied, f"pip install needs {readme} (pyproject readme) in the image"
    for private in (".env", ".env.production", "data/arxiv-bot.db", "data/arxiv-bot.db-wal", ".git/config",
                    ".venv/bin/python"):  # fmt: skip
        assert docker_ignored(private), private
    assert not docker_ignored("bot/models.py")


def test_every_file_the_bot_writes_beside_its_default_database_is_ignored_by_git(tmp_path: Path) -> None:
    url = Settings().database.url
    database = sqlite_path(url)
    assert database is not None, url
    written = [database, *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal")),
               lock_path(database), sync_state_path(url)]  # fmt: skip
    # Real git over a copy of our .gitignore in a repository of its own: a clone, an export or none at all.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    shutil.copyfile(ROOT / ".gitignore", tmp_path / ".gitignore")
    paths = [path.as_posix() for path in written] + ["data/.gitkeep"]
    checked = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *paths],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    matched: dict[str, str] = {}  # path -> the pattern that ignores it ("source:line:pattern"), or "::" for none
    for line in checked.stdout.splitlines():
        source, path = line.split("\t", 1)
        matched[path] = source
    assert set(matched) == set(paths), checked.stderr
    assert [p for p in paths[:-1] if matched[p] == "::"] == [], "left for `git add .` to commit"
    assert matched["data/.gitkeep"] == "::", "data/ itself must stay in the repository"


def install_like_the_image(root: Path) -> Path:
    """Lay out the build context as the Dockerfile copies it under ``root``, build the project's wheel from the build
    stage's files and install it, not editable, into a fresh virtualenv ``root/opt/venv`` as the image does; the
    virtualenv's python. The dependencies come from this checkout's .venv (a .pth line adds its site-packages
    without running its .pth files, so its editable install of the project is not seen)."""
    assemble_build_context_copies(root)
    build_dir = root / last(next(iter(stages().values())), "WORKDIR").lstrip("/")
    venv = root / "opt" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "--quiet"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", wheels, build_dir],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("arxiv_bot-*.whl")
    installed = subprocess.run([*pip, "--python", python, "install", "--no-deps", wheel], capture_output=True,
                               text=True, timeout=300)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return python


def test_the_installed_wheel_is_enough_to_migrate_and_check_the_config_with_no_source_beside_it(
    tmp_path: Path,
) -> None:
    python = install_like_the_image(tmp_path)
    volumes = json.loads(last(image_stage(), "VOLUME"))
    for folder in volumes:
        (tmp_path / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp_path / last(next(iter(stages().values())), "WORKDIR").lstrip("/"))  # the image has no /src
    workdir = tmp_path / last(image_stage(), "WORKDIR").lstrip("/")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    folders = {"/" + target.split("/")[1] for _, target in context_copies()} | {v.rstrip("/") for v in volumes}
    for name, value in image_env().items():
        if name.startswith(ENV_PREFIX):
            for folder in folders:  # the image's absolute paths, under tmp_path
                value = value.replace(folder + "/", f"{tmp_path}{folder}/")
            env[name] = value

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)

    where = run("-c", "import bot.store.migrations as m; print(m.__file__); print(m.ALEMBIC_DIR)")
    assert where.returncode == 0, where.stderr
    module, scripts = (Path(line) for line in where.stdout.split())
    assert module.is_relative_to(tmp_path / "opt" / "venv") and "site-packages" in module.parts
    assert scripts == tmp_path / "opt" / "venv" / "share" / "arxiv-bot" / "alembic" and (scripts / "env.py").is_file()
    assert sorted(p.name for p in (scripts / "versions").glob("*.py")) == sorted(
        p.name for p in (ROOT / "alembic" / "versions").glob("*.py")
    )
    migrated = run("-m", "adapters.cli", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    database = Path(env["ARXIVBOT_DATABASE__URL"].removeprefix("sqlite+aiosqlite:///"))
    assert database.is_relative_to(tmp_path) and database.exists()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    checked = run("-m", "adapters.cli", "check-config")
    assert checked.returncode == 0, checked.stderr
    assert f"[arxiv] rss_url = '{Settings().arxiv.rss_url}'" in checked.stdout  # read from the image's config.toml


def test_the_entrypoint_is_our_console_script_and_the_command_a_subcommand() -> None:
    entrypoint = json.loads(last(image_stage(), "ENTRYPOINT"))
    command = json.loads(last(image_stage(), "CMD"))
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    build_parser().parse_args([*entrypoint[1:], *command])  # exits 2 on an unknown subcommand
    # The examples in the Dockerfile's comments run the image it builds with commands the CLI accepts.
    tag = re.search(r"^#\s+docker build -t (\S+) \.$", DOCKERFILE, re.MULTILINE)
    examples = re.findall(r"^#\s+docker run (.*)$", DOCKERFILE, re.MULTILINE)
    assert tag and examples
    for example in examples:
        image, args = docker_run_image_and_args(shlex.split(example))
        assert image == tag[1], example
        assert isinstance(build_parser().parse_args(args or command), argparse.Namespace)


def docker_run_image_and_args(words: list[str]) -> tuple[str, list[str]]:
    """The image and its arguments in the words after ``docker run``."""
    flags = {"-d", "--detach", "--rm", "-i", "-t", "-it", "--init"}
    i = 0
    while words[i].startswith("-"):
        i += 1 if words[i] in flags or "=" in words[i] else 2
    return words[i], words[i + 1 :]


def test_the_image_python_satisfies_requires_python_in_every_stage() -> None:
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    versions = set()
    for stage in stages().values():
        image = stage[0][1].split(" AS ")[0]
        match = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", image)
        assert match, f"{image}: expected an official python image"
        versions.add(match[1])
        assert match[1] + ".0" in requires, image
    assert len(versions) == 1  # the virtualenv is copied between stages: one Python for both


def test_the_image_runs_as_a_non_root_user_with_its_database_in_the_volume() -> None:
    stage = image_stage()
    assert last(stage, "USER") not in ("root", "0")
    volumes = json.loads(last(stage, "VOLUME"))
    database = image_settings().database.url
    path = database.removeprefix("sqlite+aiosqlite:///")
    assert any(path.startswith(volume.rstrip("/") + "/") for volume in volumes), (database, volumes)


async def run_healthcheck(port: int, bin_dir: Path) -> int:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", healthcheck_command(),
        env={"PATH": str(bin_dir), "ARXIVBOT_HTTP__PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_the_healthcheck_command_passes_on_a_running_bot_and_fails_without_one(
    services: Services, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"  # the image has python and a shell, no curl or wget
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "r")
    runtime = BotRuntime(services.settings, force_console=True, env={}, services=services, console_stream=stream)
    await runtime.start()
    try:
        assert runtime.http is not None
        assert await run_healthcheck(runtime.http.port, bin_dir) == 0
    finally:
        os.close(write_fd)
        await asyncio.wait_for(runtime.wait(), timeout=5)
        await runtime.close()
        stream.close()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert await run_healthcheck(port, bin_dir) != 0


def setting_env_names() -> set[str]:
    return {
        f"{ENV_PREFIX}{section.name}__{key.name}".upper()
        for section in dataclasses.fields(Settings)
        for key in dataclasses.fields(getattr(Settings(), section.name))
    }


def read_by_our_code(name: str) -> bool:
    sources = (p.read_text() for folder in ("adapters", "bot") for p in (ROOT / folder).rglob("*.py"))
    return any(f'"{name}"' in text for text in sources)


def provider_key(name: str) -> bool:
    """Whether litellm asks for ``name`` as the key of the provider it is named after (OPENAI_API_KEY: openai)."""
    import litellm  # slow to import: only here

    provider = name.removesuffix("_API_KEY").lower()
    return name.endswith("_API_KEY") and name in litellm.validate_environment(f"{provider}/any")["missing_keys"]


def test_compose_sets_only_known_settings_and_passes_secrets_through_unwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as the bot does: no download of litellm's prices
    environment = COMPOSE["services"]["bot"]["environment"]
    known = setting_env_names()
    settings: dict[str, str] = {}
    for name, value in environment.items():
        if name.startswith(ENV_PREFIX):
            assert name in known, f"{name} is not a setting"
            default = re.fullmatch(r"\$\{(\w+):-(.*)\}", str(value))
            assert default and default[1] == name, (name, value)  # overridable from the shell or .env
            settings[name] = default[2]
        else:
            assert value is None, f"{name} has a value in docker-compose.yml: secrets come from the shell or .env"
            assert read_by_our_code(name) or provider_key(name), f"nothing reads {name}"
    load_settings(Path("/nonexistent.toml"), env=settings)  # the defaults are valid settings


def test_compose_runs_the_image_with_its_volume_port_and_an_optional_postgres() -> None:
    services = COMPOSE["services"]
    bot = services["bot"]
    assert (ROOT / bot["build"] / "Dockerfile").exists()
    volumes = json.loads(last(image_stage(), "VOLUME"))
    assert {mount.split(":")[1] for mount in bot["volumes"]} <= set(volumes)
    port = str(image_settings().http.port)
    assert [mapping.rsplit(":", 1)[1] for mapping in bot["ports"]] == [port]
    for name, dependency in bot.get("depends_on", {}).items():
        if "profiles" in services[name]:  # not started by a plain `docker compose up`
            assert dependency.get("required") is False, name
    # The PostgreSQL URL the file's comments tell you to set reaches the postgres service and is a valid setting.
    url = re.search(r"ARXIVBOT_DATABASE__URL=(postgresql\+asyncpg://\S+)", (ROOT / "docker-compose.yml").read_text())
    assert url is not None
    load_settings(Path("/nonexistent.toml"), env={"ARXIVBOT_DATABASE__URL": url[1]})
    pg = services["postgres"]["environment"]
    match = re.fullmatch(r"postgresql\+asyncpg://(\w+):[^@]+@(\w+):5432/(\w+)", url[1])
    assert match and (match[1], match[2], match[3]) == (pg["POSTGRES_USER"], "postgres", pg["POSTGRES_DB"])


LOCK = ROOT / "requirements.lock"
LOCKED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def lock_entries() -> dict[str, tuple[str, str]]:
    """Package (normalised name) -> (its exact version in requirements.lock, its whole entry: hashes and 'via')."""
    entries: dict[str, tuple[str, str]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        match = LOCKED.match(entry)
        if match is not None:
            entries[canonicalize_name(match["name"])] = (match["version"], entry)
    return entries


def test_every_dependency_of_pyproject_is_locked_at_a_version_its_range_allows() -> None:
    entries = lock_entries()
    runtime = PYPROJECT["project"]["dependencies"]
    build = PYPROJECT["build-system"]["requires"]
    for text in (*runtime, *build):
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement.name} is in pyproject.toml but not in requirements.lock: run make lock"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}: run make lock"
        )
        for extra in requirement.extras:  # e.g. sqlalchemy[asyncio] needs greenlet
            for needed in metadata.requires(requirement.name) or []:
                needs = Requirement(needed)
                if needs.marker is not None and needs.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(needs.name) in entries, f"{requirement}: {needs.name} is not locked"
    for package, (version, entry) in entries.items():
        assert "--hash=sha256:" in entry, f"{package}=={version} is locked without a hash"
    # What the lock says it took straight from pyproject.toml is exactly the runtime and build requirements:
    # no development tool (pytest, mypy, pip-tools) is in the image.
    direct = {name for name, (_, entry) in entries.items() if "arxiv-bot (pyproject.toml" in entry}
    assert direct == {canonicalize_name(Requirement(text).name) for text in (*runtime, *build)}


def test_the_lock_is_what_make_lock_writes_with_hashes_for_this_python() -> None:
    header = LOCK.read_text().split("\n\n", 1)[0]
    assert "autogenerated by pip-compile" in header and "--generate-hashes" in header
    assert f"with Python {sys.version_info.major}.{sys.version_info.minor}" in header
    dry = subprocess.run(["make", "-n", "lock"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    command = " ".join(dry.stdout.replace("\\\n", " ").split())
    assert "pip-compile" in command and "--output-file requirements.lock pyproject.toml" in command
    made_with = header.split("#    pip-compile", 1)[1].split("\n", 1)[0]
    for flag in re.findall(r"--[\w-]+", made_with):
        assert flag in command, f"make lock does not pass {flag}, which the lock was made with"


def test_the_image_installs_the_lock_with_hashes_then_the_project_not_editable_on_pinned_bases() -> None:
    build = next(iter(stages().values()))
    runs = [rest for word, rest in build if word == "RUN"]
    copied = [rest for word, rest in build if word == "COPY"]
    lock_install = next(i for i, r in enumerate(runs) if "requirements.lock" in r)
    assert re.search(r"pip install --require-hashes --no-deps -r requirements\.lock", runs[lock_install])
    assert copied[0] == "requirements.lock ./"  # the dependency layer comes before the source
    project = next(r for r in runs if re.search(r"pip install .*--no-deps.* \.(\s|$)", r))
    assert runs.index(project) > lock_install and "--no-build-isolation" in project  # built with the locked tools
    assert not any(re.search(r"(^|\s)(-e|--editable)(\s|$)", r) for r in runs)
    for stage in stages().values():
        image = stage[0][1].split(" AS ")[0]
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", image), f"{image}: pin the base image to a release"
    assert {stage[0][1].split(" AS ")[0] for stage in stages().values()} == {build[0][1].split(" AS ")[0]}
