"""gunicorn settings for one Rescue Tracker app server (README, "Running it on a server").

    gunicorn -c deploy/gunicorn.conf.py wsgi:app

systemd starts one per port (deploy/systemd/tracker-web@.service: tracker-web@8001 and
tracker-web@8002), behind nginx (deploy/nginx/tracker.conf). Two servers let an upgrade
restart one while the other answers. Settings that differ per machine come from the
environment (/etc/tracker/tracker.env):

    TRACKER_BIND          where to listen (127.0.0.1:8000; the systemd unit sets 127.0.0.1:<port>)
    TRACKER_WEB_WORKERS   processes per app server (2)
    TRACKER_WEB_THREADS   threads per process (4)
"""

import os

bind = os.environ.get("TRACKER_BIND", "127.0.0.1:8000")

# Threads: most of a request's time is spent waiting for PostgreSQL, and a slow client is
# nginx's problem (it buffers requests and responses), not a worker's.
worker_class = "gthread"
workers = int(os.environ.get("TRACKER_WEB_WORKERS", "2"))
threads = int(os.environ.get("TRACKER_WEB_THREADS", "4"))

# A worker process silent towards its master this long is killed and replaced. (With threads
# a slow request alone does not trigger it: nginx gives up waiting for an answer after 60 s.)
timeout = 30
# On a stop or restart, requests under way get this long to finish.
graceful_timeout = 20
# Longer than nginx's keepalive to its upstream (60 s), so nginx always closes first and
# never sends a request on a connection gunicorn is closing.
keepalive = 75
# Workers are replaced now and then (spread out, so not all at once): a slow leak cannot grow.
max_requests = 5000
max_requests_jitter = 500

# Only nginx on this machine may say that a request came over HTTPS (X-Forwarded-Proto).
# The app itself trusts X-Forwarded-For/-Proto from TRACKER_PROXY_COUNT proxies (1: nginx).
forwarded_allow_ips = "127.0.0.1,::1"

# Logs go to stdout/stderr: journald keeps them (journalctl -u tracker-web@8001).
accesslog = "-"
errorlog = "-"
loglevel = "info"
# nginx passes the client's address in X-Forwarded-For; %(L)s is the request time in seconds.
access_log_format = '%({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'

# Workers' heartbeat files in memory, not on a disk that may stall (gunicorn makes them with
# mkstemp and unlinks them at once).
SHARED_MEMORY = "/dev/shm"  # noqa: S108
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY

# The app is not imported in the master: each worker imports it (wsgi.py) after the fork, so
# no database connection or background thread is shared between workers.
preload_app = False

# gunicorn 24+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): two app
# servers of one user would take it from each other. Not used here (systemctl stops and
# reloads); older gunicorn ignores the setting.
control_socket_disable = True

# Prometheus metrics (TRACKER_METRICS_TOKEN; README, "Operations"): each worker process counts
# on its own, so the counters are kept in files in PROMETHEUS_MULTIPROC_DIR, which any
# worker's /metrics adds up. Unset, each start gets a fresh directory of its own (under the
# unit's private /tmp): the workers fork from this master and inherit it, and two app servers
# never mix their counts. A directory set by hand is emptied at each start.
if os.environ.get("TRACKER_METRICS_TOKEN") and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile as _tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tempfile.mkdtemp(prefix="tracker-metrics-")


def on_starting(server):  # noqa: ANN001, ANN201, ARG001
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):  # noqa: ANN001, ANN201, ARG001
    """A worker ended: its live gauges go (its counters stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
