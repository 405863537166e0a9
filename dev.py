#!/usr/bin/env python3
"""Set up and run Rescue Tracker on a fresh machine that has only Python 3.11+.

    python3 dev.py serve   # venv + install, build the SQLite database, demo data, serve :5000
                           # (and a worker beside the server: mail, periodic jobs)
    python3 dev.py test    # venv + install with test tools, run the whole test suite
    python3 dev.py i18n    # after changing text: extract it, update the Japanese catalog, compile

Everything goes into ./.venv and ./instance; nothing outside the checkout is touched.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
INSTANCE = ROOT / "instance"


def venv_python() -> Path:
    """The virtual environment's interpreter."""
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_installed(extra: str | None) -> None:
    """Create .venv and install the project (with an extra) unless already done for this
    version of pyproject.toml."""
    if sys.version_info < (3, 11):
        sys.exit("Rescue Tracker needs Python 3.11 or newer.")
    if not venv_python().exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    spec = f".[{extra}]" if extra else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / ".tracker-installed"
    if stamp.exists() and digest in stamp.read_text().split():
        return
    print(f"Installing {spec} into .venv ...", flush=True)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", spec], check=True, cwd=ROOT)
    previous = stamp.read_text() if stamp.exists() else ""
    stamp.write_text(previous + digest + "\n")


def secret_key() -> str:
    """A random SECRET_KEY kept in instance/secret_key, made on the first run."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def flask(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(venv_python()), "-m", "flask", "--app", "tracker", *args],
                   check=True, env=env, cwd=ROOT)


def serve() -> int:
    """Install, migrate the embedded SQLite database, load demo data and serve on :5000, with
    a worker beside the server (queued mail goes out at once, periodic jobs run); Ctrl-C stops
    both."""
    ensure_installed(None)
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secret_key())
    # plain HTTP on 127.0.0.1: a Secure cookie would not come back from every browser
    env.setdefault("SESSION_COOKIE_SECURE", "false")
    port = env.get("PORT", "5000")
    env.setdefault("TRACKER_PUBLIC_URL", f"http://127.0.0.1:{port}")
    # the server only queues mail; the worker started below sends it
    env.setdefault("TRACKER_OUTBOX_DELIVERY", "worker")
    flask("db", "upgrade", env=env)
    print("\nDemo data and fresh sign-ins (passwords are new on every start):", flush=True)
    flask("seed-demo", "--accounts", env=env)
    print(f"\nRescue Tracker: http://127.0.0.1:{port}/  (staff sign-in at /login; Ctrl-C stops)\n",
          flush=True)
    base = [str(venv_python()), "-m", "flask", "--app", "tracker"]
    worker = subprocess.Popen([*base, "worker"], env=env, cwd=ROOT)
    try:
        server = subprocess.Popen([*base, "run", "--host", "127.0.0.1", "--port", port],
                                  env=env, cwd=ROOT)
        try:
            return server.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the server too: let it finish
            return server.wait()
    finally:
        stop(worker)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (the worker finishes what it is sending), then wait; kill if it hangs."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test(extra_args: list[str]) -> int:
    """Install with the test tools and run pytest; returns pytest's exit code.

    With TEST_DATABASE_URL set, no arguments and two or more CPUs, the suite runs as two
    pytest processes side by side (``shards``): the PostgreSQL half, and the rest (SQLite, the
    browser and no-database tests) on a second PostgreSQL database beside the first, made and
    dropped here, so that the two never share one. TRACKER_TEST_SHARDS=1 runs one process.
    """
    ensure_installed("dev")
    pytest = [str(venv_python()), "-m", "pytest"]
    url = os.environ.get("TEST_DATABASE_URL")
    if (extra_args or not url or (os.cpu_count() or 1) < 2
            or os.environ.get("TRACKER_TEST_SHARDS") == "1"):
        return subprocess.run([*pytest, *extra_args], cwd=ROOT).returncode
    return sharded(pytest, url)


#: makes (``create``) or drops (``drop``) the database named in argv[2] on argv[1]'s server
_SIBLING_DATABASE = """
import sys, sqlalchemy as sa
from tracker.config import normalize_database_url
url = sa.make_url(normalize_database_url(sys.argv[1]))
admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sys.argv[3]}" WITH (FORCE)'))
    if sys.argv[2] == "create":
        conn.execute(sa.text(f'CREATE DATABASE "{sys.argv[3]}"'))
print(url.set(database=sys.argv[3]).render_as_string(hide_password=False))
"""


def sharded(pytest: list[str], url: str) -> int:
    """Both halves of the suite at once, each line of output marked with its half; fails
    when either half fails (each half applies TRACKER_REQUIRE_ALL_TESTS itself)."""
    import threading
    from urllib.parse import urlsplit

    sibling = (urlsplit(url).path.lstrip("/") or "tracker_test") + "_rest"
    made = subprocess.run([str(venv_python()), "-c", _SIBLING_DATABASE, url, "create", sibling],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    sibling_url = made.stdout.strip().splitlines()[-1]
    shards = {"postgresql": url, "rest": sibling_url}
    processes, lock = {}, threading.Lock()

    def relay(name: str, stream) -> None:  # noqa: ANN001 - a text pipe
        for line in stream:
            with lock:
                sys.stdout.write(f"[{name}] {line}")
                sys.stdout.flush()

    try:
        threads = []
        for name, database in shards.items():
            env = {**os.environ, "TRACKER_TEST_SHARD": name, "TEST_DATABASE_URL": database}
            processes[name] = subprocess.Popen(
                [*pytest, "--durations=15"], cwd=ROOT, env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            threads.append(threading.Thread(target=relay, args=(name, processes[name].stdout)))
            threads[-1].start()
        codes = {name: process.wait() for name, process in processes.items()}
        for thread in threads:
            thread.join()
    finally:
        for process in processes.values():
            stop(process)
        subprocess.run([str(venv_python()), "-c", _SIBLING_DATABASE, url, "drop", sibling],
                       cwd=ROOT, capture_output=True)
    for name, code in codes.items():
        print(f"test shard {name}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return next((code for code in codes.values() if code != 0), 0)


#: the keywords that mark translatable text, in Python and in templates
I18N_KEYWORDS = ["-k", "lazy_gettext", "-k", "_l", "-k", "lazy_pgettext:1c,2"]


def i18n() -> int:
    """Extract the translatable text, merge it into each catalog, compile the catalogs.

    New or changed English text appears in tracker/translations/ja/LC_MESSAGES/messages.po
    with an empty (or fuzzy) translation; fill it in and run this again. The test suite
    fails while any entry is missing.
    """
    ensure_installed("dev")
    babel = [str(venv_python()), "-m", "babel.messages.frontend", "-q"]
    translations = ROOT / "tracker" / "translations"
    template = ROOT / "instance" / "messages.pot"
    template.parent.mkdir(exist_ok=True)
    subprocess.run([*babel, "extract", "-F", "babel.cfg", *I18N_KEYWORDS,
                    # (the default also skips folders starting with "_", such as templates/_macros)
                    "--ignore-dirs", ".* node_modules", "--no-location",
                    "--sort-output", "-o", str(template), "."], check=True, cwd=ROOT)
    for language in ("ja",):
        po = translations / language / "LC_MESSAGES" / "messages.po"
        action = "update" if po.exists() else "init"
        subprocess.run([*babel, action, "-i", str(template), "-d", str(translations),
                        "-l", language, "--no-wrap",
                        *(["--ignore-obsolete"] if action == "update" else [])], check=True, cwd=ROOT)
    return subprocess.run([*babel, "compile", "-d", str(translations), "--statistics"],
                          cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test", "i18n"}:
        print(__doc__)
        return 2
    if argv[0] == "serve":
        return serve()
    if argv[0] == "i18n":
        return i18n()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
