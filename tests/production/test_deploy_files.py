"""The files in deploy/ agree with the app and with each other (these need no nginx; the
production-shaped test next door runs them)."""

from __future__ import annotations

import re
import runpy

from gunicorn.config import Config

from tests.production import stack
from tracker import config as config_module


def test_the_example_environment_is_a_valid_configuration(tmp_path):
    settings = stack.read_env_file(stack.DEPLOY / "tracker.env.example")
    assert settings["TRACKER_PROXY_COUNT"] == "1"  # nginx, and nothing else, in front
    assert settings["TRACKER_OUTBOX_DELIVERY"] == "worker"
    assert settings["DATABASE_URL"].startswith("postgresql://")
    config = config_module.finalize(config_module.from_env(settings, str(tmp_path)), debug=False)
    assert config["TRACKER_PUBLIC_URL"].startswith("https://")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["RATELIMIT_STORAGE_URI"] == settings["REDIS_URL"]


def test_every_gunicorn_setting_is_one_gunicorn_knows():
    names = {name for name in runpy.run_path(str(stack.DEPLOY / "gunicorn.conf.py"))
             if name.islower() and not name.startswith("_") and name != "os"}
    known = set(Config().settings)
    assert names - known == set(), "not gunicorn settings (gunicorn ignores them without a word)"
    assert {"bind", "worker_class", "workers", "threads", "forwarded_allow_ips", "accesslog"} <= names


def test_the_units_run_the_installed_app_with_the_settings_file():
    for unit in ("tracker-web@.service", "tracker-worker.service"):
        text = (stack.DEPLOY / "systemd" / unit).read_text()
        assert "EnvironmentFile=/etc/tracker/tracker.env" in text
        assert f"WorkingDirectory={stack.SERVER_APP}\n" in text
        assert re.search(rf"^ExecStart={stack.SERVER_VENV}/bin/", text, re.M)
        assert "User=tracker" in text
    argv, workdir, env = stack.unit_command(stack.DEPLOY / "systemd" / "tracker-web@.service", "8001")
    assert env == {"TRACKER_BIND": "127.0.0.1:8001"}
    assert argv[1:] == ["-c", str(stack.ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"]
    assert workdir == stack.ROOT and (workdir / "wsgi.py").exists()


def test_nginx_sends_to_the_app_servers_the_readme_starts():
    site = (stack.DEPLOY / "nginx" / "tracker.conf").read_text()
    upstream = re.findall(r"server 127\.0\.0\.1:(\d+);", site)
    readme = (stack.ROOT / "README.md").read_text()
    started = re.findall(r"tracker-web@(\d+)", re.search(r"systemctl enable --now .*", readme).group(0))
    assert upstream == started == ["8001", "8002"]
    assert f"alias {stack.SERVER_APP}/static/;" in site
