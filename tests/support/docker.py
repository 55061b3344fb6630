"""A Docker engine for the container tests, and the local base images they build the product from.

Entry: `docker_engine()` yields an `Engine`; `base_images(engine)` returns the `BaseImages` to pass as build
arguments. Rules these keep (DESIGN.md section 6): only loopback traffic, and no registry pulls.

- The engine is the one that is there (`DOCKER_HOST`, or a daemon answering on /var/run/docker.sock), else one of
  our own: Debian's dockerd, started as root with its own data root, exec root and socket under
  `~/.cache/prynai-mcp/docker` (`PRYNAI_TEST_DOCKER_DIR`), `--bridge=none --iptables=false` so it creates no network
  with a private-range address, and stopped (with everything it started) when the tests end. The data root persists,
  so base images and build caches are reused by later runs. A lock file serializes test runs sharing it.
- Base images are made here once per machine, each tagged with a hash of its recipe so a changed recipe rebuilds: a
  Debian minbase rootfs (debootstrap, from the apt mirror this machine uses) imported with `docker import`, then
  small Dockerfiles on top (tests/container/bases/) for Python, Redis, HAProxy and Debian's Compose v2. Without
  debootstrap the real images the product files name are used instead (the engine pulls them).
- Every build runs with host networking: with no bridge, that is the only network a build step has.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASES = REPO / "tests" / "container" / "bases"
SUITE = "trixie"  # Debian 13: Python 3.13, which satisfies the project's >=3.12
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TAG_PREFIX = "prynai-test"
ENGINE_START_TIMEOUT = 60.0
ENGINE_STOP_TIMEOUT = 30.0
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What the product's files name; used when no local base can be built.
OFFICIAL = {"python": "python:3.12-slim", "redis": "redis:7-alpine", "haproxy": "haproxy:3.2-alpine"}


class EngineUnavailable(RuntimeError):
    """No Docker engine can be had here; the message says why."""


def state_dir() -> Path:
    chosen = os.environ.get("PRYNAI_TEST_DOCKER_DIR")
    return Path(chosen) if chosen else Path.home() / ".cache" / "prynai-mcp" / "docker"


@dataclass
class Engine:
    """A reachable Docker engine and the client settings that reach it."""

    host: str  # DOCKER_HOST value
    config_dir: Path  # DOCKER_CONFIG: where the Compose v2 plugin is put
    started_here: bool
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.config_dir), **self.env}
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 600,
        cwd: Path = REPO,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (docker, docker-compose, ...) against this engine; output captured as text."""
        done = subprocess.run(
            list(args),
            env=self.environment(env),
            cwd=cwd,
            capture_output=True,
            text=input is None,
            timeout=timeout,
            input=input,
        )
        result = subprocess.CompletedProcess(done.args, done.returncode, _text(done.stdout), _text(done.stderr))
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def docker(self, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        return self.run(docker_cli(), *args, **options)  # type: ignore[arg-type]

    def image_exists(self, tag: str) -> bool:
        return self.docker("image", "inspect", tag, check=False).returncode == 0


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise EngineUnavailable("no docker client on PATH (apt-get install docker.io)")
    return found


def _ping(host: str) -> bool:
    """Whether a daemon answers `/_ping` at a unix:// DOCKER_HOST (other schemes: ask the client)."""
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            connection = http.client.HTTPConnection("docker")
            connection.sock = sock
            connection.request("GET", "/_ping")
            return connection.getresponse().status == 200
        return False
    env = {**os.environ, "DOCKER_HOST": host}
    done = subprocess.run([docker_cli(), "version"], env=env, capture_output=True, timeout=20)
    return done.returncode == 0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    """The engine that is there, or our own dockerd for the duration; `EngineUnavailable` says why there is none."""
    root = state_dir()
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    existing = os.environ.get("DOCKER_HOST") or (
        "unix:///var/run/docker.sock" if Path("/var/run/docker.sock").exists() else ""
    )
    if existing and _ping(existing):
        yield Engine(existing, config_dir, started_here=False)
        return
    if existing and os.environ.get("DOCKER_HOST"):
        raise EngineUnavailable(f"DOCKER_HOST={existing} does not answer")
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None)
    if dockerd is None:
        raise EngineUnavailable("no Docker engine is running and dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine is running, and starting dockerd needs root")
    with _locked(root / "lock"), _own_dockerd(dockerd, root) as host:
        yield Engine(host, config_dir, started_here=True)


@contextlib.contextmanager
def _own_dockerd(dockerd: str, root: Path) -> Iterator[str]:
    socket_path = root / "docker.sock"
    host = f"unix://{socket_path}"
    pidfile = root / "dockerd.pid"
    _stop_leftover(pidfile, root)
    log = (root / "dockerd.log").open("wb")  # this run's only: it is what a failure points to
    command = [
        dockerd,
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--host",
        host,
        "--pidfile",
        str(pidfile),
        # No bridge: its addresses are private-range, and traffic to them is not allowed here. Containers and
        # builds use the host's network, listening on loopback.
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
    ]
    # Its own session: a Ctrl+C of the test run reaches pytest, which then stops the engine in order.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT
        while not _ping(host):
            if process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited {process.returncode}; see {root / 'dockerd.log'}")
            if time.monotonic() > deadline:
                raise EngineUnavailable(f"dockerd did not answer in {ENGINE_START_TIMEOUT}s; see {root}/dockerd.log")
            time.sleep(0.2)
        # Containers left by a run that was killed come back with their restart policy: this engine is the tests'
        # alone, so they go, with their volumes.
        _remove_everything_running(host)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            env = {**os.environ, "DOCKER_HOST": host}
            subprocess.run([docker_cli(), "volume", "prune", "-f"], env=env, capture_output=True, timeout=60)
        yield host
    finally:
        _stop_engine(process, host)
        _unmount_below(root / "exec")
        log.close()


def _remove_everything_running(host: str) -> None:
    env = {**os.environ, "DOCKER_HOST": host}
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        ids = subprocess.run(
            [docker_cli(), "ps", "-aq"], env=env, capture_output=True, text=True, timeout=30
        ).stdout.split()
        if ids:
            subprocess.run([docker_cli(), "rm", "-f", "-v", *ids], env=env, capture_output=True, timeout=60)


def _stop_engine(process: subprocess.Popen[bytes], host: str) -> None:
    """Remove every container this engine runs and the images no tag names, then stop dockerd (and its containerd).

    Base images and the layers of the current build stay: the next run reuses them. Build cache beyond a few GB goes.
    """
    if process.poll() is None:
        _remove_everything_running(host)
        env = {**os.environ, "DOCKER_HOST": host}
        for prune in (["image", "prune", "-f"], ["builder", "prune", "-f", "--keep-storage", "3GB"]):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run([docker_cli(), *prune], env=env, capture_output=True, timeout=120)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(ENGINE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _unmount_below(directory: Path) -> None:
    """dockerd leaves its default network namespace mounted under the exec root when it stops: unmount it (and any
    other mount it left there), so nothing of the engine outlives the tests."""
    prefix = str(directory.resolve()) + "/"
    with contextlib.suppress(OSError):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            subprocess.run(["umount", point], capture_output=True, timeout=30)


def _stop_leftover(pidfile: Path, root: Path) -> None:
    """A dockerd of an earlier run on this data root (killed before it could clean up) holds it: stop that one."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if cmdline and cmdline[0].endswith(b"dockerd") and str(root / "data").encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + ENGINE_STOP_TIMEOUT
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)


@dataclass(frozen=True)
class BaseImages:
    """Image references to build and run the product with; `local` when they were made here."""

    python: str
    redis: str
    haproxy: str
    local: bool

    def build_args(self) -> list[str]:
        return ["--build-arg", f"PYTHON_IMAGE={self.python}"]

    def compose_env(self) -> dict[str, str]:
        """The variables the compose files read their images from."""
        return {"PYTHON_IMAGE": self.python, "REDIS_IMAGE": self.redis, "LB_IMAGE": self.haproxy}


def apt_mirror() -> str:
    """The Debian archive this machine's apt uses (deb822 or one-line sources), so builds reach what apt reaches."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"^\s*URIs:\s*(\S+)|^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.MULTILINE):
            uri = (match.group(1) or match.group(2)).rstrip("/")
            if uri.endswith("/debian"):  # the main archive, not debian-security or a third party's
                return uri
    return DEFAULT_MIRROR


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()[:12]


def base_images(engine: Engine) -> BaseImages:
    """Make (or find, by recipe hash) the local base images; the real ones when debootstrap is not here."""
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        return BaseImages(OFFICIAL["python"], OFFICIAL["redis"], OFFICIAL["haproxy"], local=False)
    with _locked(state_dir() / "bases.lock"):
        minbase = _minbase(engine)
        bundle = Path(os.environ.get("SSL_CERT_FILE") or CA_BUNDLE).read_bytes()
        python = _derived(engine, "python", minbase, {"ca-certificates.crt": bundle})
        redis = _derived(engine, "redis", minbase)
        haproxy = _derived(engine, "haproxy", minbase)
        _prune(engine, keep={minbase, python, redis, haproxy, _derived_tag("compose", minbase)})
    return BaseImages(python, redis, haproxy, local=True)


def _minbase(engine: Engine) -> str:
    mirror = apt_mirror()
    tag = f"{TAG_PREFIX}/minbase:{SUITE}-{_digest('debootstrap --variant=minbase', SUITE, mirror)}"
    if engine.image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="prynai-rootfs-", dir=state_dir()) as scratch:
        rootfs = Path(scratch) / "rootfs"
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        # Package lists and downloaded .debs only make the image bigger; derived images fetch fresh lists.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(
            [docker_cli(), "import", "--change", 'CMD ["bash"]', "-", tag],
            stdin=tar.stdout,
            env=engine.environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr}")
    return tag


def _derived_tag(name: str, minbase: str, files: Mapping[str, bytes] | None = None) -> str:
    recipe = (BASES / f"{name}.Dockerfile").read_bytes()
    extra = [part for key in sorted(files or {}) for part in (key, (files or {})[key])]
    return f"{TAG_PREFIX}/{name}:{_digest(minbase, recipe, *extra)}"


def _derived(engine: Engine, name: str, minbase: str, files: Mapping[str, bytes] | None = None) -> str:
    tag = _derived_tag(name, minbase, files)
    if engine.image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix=f"prynai-{name}-") as context:
        for filename, content in (files or {}).items():
            Path(context, filename).write_bytes(content)
        dockerfile = BASES / f"{name}.Dockerfile"
        engine.docker(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"MINBASE={minbase}",
            "-f",
            str(dockerfile),
            "-t",
            tag,
            context,
            env={"DOCKER_BUILDKIT": "0"},
        )
    return tag


def _prune(engine: Engine, keep: set[str]) -> None:
    """Drop base images of older recipes, so a changed recipe does not leave the old one behind for ever."""
    listed = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    stale = [ref for ref in listed if ref.startswith(f"{TAG_PREFIX}/") and ref not in keep]
    if stale:
        engine.docker("rmi", *stale, check=False)


def compose_v2(engine: Engine, minbase_source: BaseImages) -> list[str] | None:
    """The `docker compose` (v2) command: the client's own plugin if it has one, else Debian's, copied out of an
    image built from tests/container/bases/compose.Dockerfile into DOCKER_CONFIG/cli-plugins. None: neither."""
    if engine.docker("compose", "version", check=False).returncode == 0:
        return [docker_cli(), "compose"]
    if not minbase_source.local:
        return None
    plugin = engine.config_dir / "cli-plugins" / "docker-compose"
    minbase = _minbase(engine)
    tag = _derived(engine, "compose", minbase)
    stamp = plugin.with_suffix(".image")
    if not plugin.exists() or not stamp.exists() or stamp.read_text() != tag:
        plugin.parent.mkdir(parents=True, exist_ok=True)
        container = engine.docker("create", tag).stdout.strip()
        try:
            engine.docker("cp", f"{container}:/usr/libexec/docker/cli-plugins/docker-compose", str(plugin))
        finally:
            engine.docker("rm", container, check=False)
        stamp.write_text(tag)
    if engine.docker("compose", "version", check=False).returncode != 0:
        return None
    return [docker_cli(), "compose"]


def compose_v1() -> list[str] | None:
    """Debian's docker-compose 1.29, if installed."""
    found = shutil.which("docker-compose")
    if found is None:
        return None
    done = subprocess.run([found, "version", "--short"], capture_output=True, text=True, timeout=30)
    return [found] if done.returncode == 0 and done.stdout.startswith("1.") else None


def image_size(engine: Engine, tag: str) -> int:
    return int(engine.docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
