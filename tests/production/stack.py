"""The production-shaped stack of tests/production, built from the files in deploy/.

- nginx (Debian's package, run as this user on high ports): ``deploy/nginx/tracker.conf``
  rendered into a temporary folder with only its paths and ports substituted, inside a small
  top-level ``nginx.conf`` of the test's own (pid, logs and temporary files in that folder).
  The rendered site also gets one more copy of its HTTPS server block per app server, each
  sending everything to that one server, so a test can reach a chosen app server *through
  nginx* (same headers, same TLS).
- Two app servers and the worker, started with the commands of ``deploy/systemd/*.service``
  (``ExecStart``, ``WorkingDirectory``, ``Environment``) with the install paths replaced by
  this checkout and its virtual environment, and the environment of
  ``deploy/tracker.env.example`` with the values that differ here substituted.
- PostgreSQL reached through :class:`CuttableProxy`, a TCP forwarder the test owns: cutting it
  is "PostgreSQL stops" for the app, without touching the server the rest of the suite uses.

Every process runs in a session (process group) of its own and is killed with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
#: where deploy/ says the checkout and its virtual environment live on a server
SERVER_APP, SERVER_VENV = "/srv/tracker/app", "/srv/tracker/venv"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ipv6_loopback() -> bool:
    """Whether [::1] can be listened on here (nginx's IPv6 ``listen`` lines need it)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# --- the environment file ------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them (comments and blanks skipped,
    one pair of surrounding quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()), f"{path}: bad line {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def base_env() -> dict[str, str]:
    """This process's environment without any of the app's settings (a developer's own
    Stripe key or database must not leak into the stack)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("FLASK_", "STRIPE_", "TRACKER_", "MAIL_", "RATELIMIT_", "SENTRY_"))
            and k not in {"DATABASE_URL", "SECRET_KEY", "REDIS_URL", "TEST_DATABASE_URL"}}


# --- systemd units -------------------------------------------------------------------------------


def server_paths(text: str) -> str:
    """A deploy/ file's install paths replaced by this checkout and its virtual environment."""
    venv = str(Path(sys.executable).parent.parent)
    return text.replace(SERVER_VENV, venv).replace(SERVER_APP, str(ROOT))


def unit_command(unit: Path, instance: str = "") -> tuple[list[str], Path, dict[str, str]]:
    """(argv, working directory, Environment= settings) of a systemd unit's service, as
    systemd would run it here (``%i`` is the instance name)."""
    argv: list[str] | None = None
    workdir = ROOT
    env: dict[str, str] = {}
    for raw in unit.read_text().splitlines():
        line = server_paths(raw.strip().replace("%i", instance))
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = shlex.split(value)
        elif key == "WorkingDirectory":
            workdir = Path(value)
        elif key == "Environment":
            for pair in shlex.split(value):
                name, _, setting = pair.partition("=")
                env[name] = setting
    assert argv, f"{unit} has no ExecStart"
    return argv, workdir, env


class Process:
    """One long-running command in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.cwd, self.env, self.log = name, argv, cwd, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10) -> None:
        """``sig`` to the whole group, then SIGKILL to whatever is left of it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=wait)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])


class _Client(requests.Session):
    """A session whose every request gives up after 30 s (a hang fails, never blocks)."""

    def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        kwargs.setdefault("timeout", 30)
        return super().request(*args, **kwargs)


def client(cert: Path | None = None) -> requests.Session:
    """An HTTP client for the stack: it trusts ``cert`` (not REQUESTS_CA_BUNDLE, which
    requests would let win over a session's own setting) and no proxy from the environment
    (everything is on loopback)."""
    http = _Client()
    http.trust_env = False
    if cert is not None:
        http.verify = str(cert)
    return http


def wait_until_answers(url: str, process: Process, timeout: float = 60, cert: Path | None = None) -> None:
    """Wait until ``url`` answers 200 (the process dying meanwhile fails at once)."""
    deadline = time.monotonic() + timeout
    with client(cert) as http:
        while time.monotonic() < deadline:
            if not process.running():
                raise AssertionError(f"{process.name} exited early:\n{process.tail()}")
            with contextlib.suppress(requests.RequestException):
                if http.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
    raise AssertionError(f"{process.name} did not answer {url} within {timeout}s:\n{process.tail()}")


# --- nginx ---------------------------------------------------------------------------------------


def _server_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level ``server { ... }`` block."""
    blocks = []
    for match in re.finditer(r"(?m)^server\s*\{", text):
        depth, i = 0, match.start()
        while True:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        blocks.append((match.start(), i + 1))
    return blocks


def render_site(*, http_port: int, https_port: int, app_ports: list[int], direct_ports: list[int],
                cert: Path, key: Path, ipv6: bool) -> str:
    """deploy/nginx/tracker.conf with only paths and ports substituted, plus one copy of its
    HTTPS server block per app server (on ``direct_ports``) sending everything to that one."""
    text = server_paths((DEPLOY / "nginx" / "tracker.conf").read_text())
    site_cert = "/etc/letsencrypt/live/give.example.org/"
    assert f"{site_cert}fullchain.pem" in text and f"{site_cert}privkey.pem" in text
    text = text.replace(f"{site_cert}fullchain.pem", str(cert)).replace(f"{site_cert}privkey.pem", str(key))
    upstream = re.findall(r"server 127\.0\.0\.1:(\d+);", text)
    assert len(upstream) == len(app_ports), \
        f"the site's upstream names {upstream}, not {len(app_ports)} servers"
    for old, new in zip(upstream, app_ports, strict=True):
        text = text.replace(f"server 127.0.0.1:{old};", f"server 127.0.0.1:{new};")

    def listen(line: re.Match[str], port: int) -> str:
        v6, rest = line.group(1), line.group(3)
        if v6 and not ipv6:
            return "# (no IPv6 loopback here)"
        return f"listen {'[::1]' if v6 else '127.0.0.1'}:{port}{rest}"

    pattern = r"listen (\[::\]:)?(80|443)(\b[^;]*;)"
    text = re.sub(pattern, lambda m: listen(m, http_port if m.group(2) == "80" else https_port), text)
    assert f"127.0.0.1:{https_port} ssl" in text and f"127.0.0.1:{http_port};" in text
    tls = next(text[a:b] for a, b in _server_blocks(text) if f"{https_port} ssl" in text[a:b])
    copies = []
    for direct, app in zip(direct_ports, app_ports, strict=True):
        copy = tls.replace(f":{https_port} ssl", f":{direct} ssl").replace(
            "proxy_pass http://tracker_app;", f"proxy_pass http://127.0.0.1:{app};")
        copy = re.sub(r"(?m)^\s*listen \[::1\].*$", "", copy)  # (IPv4 only for the copies)
        copies.append(f"# the test's own: app server 127.0.0.1:{app} alone, through nginx\n{copy}\n")
    return text + "\n" + "\n".join(copies)


def nginx_conf(folder: Path, site: Path) -> str:
    """A top-level nginx.conf for an unprivileged nginx keeping everything in ``folder``."""
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # (as root, workers would be nobody)
    return f"""{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {folder}/access.log;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {site};
}}
"""


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost (openssl); it is its own CA, so
    clients can verify against it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


# --- PostgreSQL through a proxy the test can cut ------------------------------------------------


class CuttableProxy:
    """A TCP forwarder from 127.0.0.1:<port> to PostgreSQL. ``cut()`` stops listening and
    drops every connection (to the app, PostgreSQL has gone away); ``restore()`` listens again
    on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> CuttableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="pg-proxy").start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *sockets: socket.socket) -> None:
        with self._lock:
            for s in sockets:
                self._sockets.discard(s)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets = list(self._sockets)
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._close(*sockets)


def logs(processes: Iterable[Process], nginx_error_log: Path) -> str:
    """The end of every process's log and of nginx's error log."""
    parts = [p.tail() for p in processes]
    if nginx_error_log.exists():
        parts.append(f"--- nginx ({nginx_error_log}) ---\n"
                     + "\n".join(nginx_error_log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(parts)


def stop_all(processes: Iterable[Process]) -> None:
    for process in processes:
        with contextlib.suppress(Exception):
            process.stop()
