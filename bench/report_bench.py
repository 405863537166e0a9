"""Report benchmark: each report query against the raw SQL aggregation over the ledger.

Builds a fresh database (SQLite file, and PostgreSQL when reachable), loads
``seed-demo --donations N`` (default one million), then times, in the same run on the same
data:

* the baseline: the raw full aggregation of the ledger (``SELECT kind, currency, SUM, COUNT
  ... GROUP BY kind, currency`` over every entry), the query a report without rollups runs;
* each report query: the funding report's parts (year totals by month, case, channel and
  currency; donors new/returning/lapsed; the median gift), the whole funding report, the
  transparency figures, the case-progress query of the home page, and the /reports page
  rendered through the app.

Each is the median of several runs and is printed as a ratio to the baseline. Target: at most
0.2x. The rollups' exactness is checked too: the year's totals from the rollups must equal the
raw aggregation restricted to that year.

    .venv/bin/python bench/report_bench.py [--donations 1000000] [--repeat 5] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-key"
TARGET = 0.2

RAW_FULL = "SELECT kind, currency, SUM(amount_minor), COUNT(*) FROM ledger_entries GROUP BY kind, currency"
RAW_YEAR = ("SELECT kind, SUM(amount_minor) FROM ledger_entries"
            " WHERE booked_at >= :start AND booked_at < :end AND currency = :base GROUP BY kind")


def flask(database_url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET}
    subprocess.run([sys.executable, "-m", "flask", "--app", "tracker", *args], check=True, env=env,
                   cwd=ROOT)


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (page cache of the OS, the statement cache), as a running app has them
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench(database_url: str, label: str, donations: int, repeat: int) -> list[str]:
    started = time.perf_counter()
    flask(database_url, "db", "upgrade")
    flask(database_url, "seed-demo", "--donations", str(donations))
    load_seconds = time.perf_counter() - started

    from tracker import create_app
    from tracker.accounts import services as accounts
    from tracker.cases import public as public_view
    from tracker.core.time import current_fiscal_year, fiscal_year_bounds_utc, local_zone
    from tracker.extensions import db
    from tracker.reports import funding, services

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET,
                      "TRACKER_PAGE_CACHE_SECONDS": 0, "WTF_CSRF_ENABLED": False})
    lines = []
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("ANALYZE"))
        else:
            db.session.execute(sa.text("COMMIT"))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        db.session.commit()
        entries = db.session.scalar(sa.text("SELECT COUNT(*) FROM ledger_entries"))
        gifts = db.session.scalar(sa.text("SELECT COUNT(*) FROM donations"))
        year = current_fiscal_year() - 1  # the last whole fiscal year
        base = app.config["TRACKER_BASE_CURRENCY"]
        start, end = fiscal_year_bounds_utc(year, app.config["TRACKER_FISCAL_YEAR_START_MONTH"],
                                            local_zone())

        def raw_full() -> object:
            return db.session.execute(sa.text(RAW_FULL)).all()

        def raw_year() -> dict:
            return dict(db.session.execute(sa.text(RAW_YEAR),
                                           {"start": start, "end": end, "base": base}).all())

        report = funding.funding_report(year)
        raw = raw_year()
        exact = (report.totals.gifts == int(raw.get("gift", 0))
                 and report.totals.refunds == int(raw.get("refund", 0))
                 and report.totals.fees == int(raw.get("fee", 0)))

        home_cases = public_view.public_cases()
        user = accounts.create_user("bench-director@example.org", "bench password 1", "director")
        db.session.commit()
        client = app.test_client()
        response = client.post("/login", data={"email": user.email, "password": "bench password 1"})
        assert response.status_code in (302, 303), response.status_code

        def page() -> object:
            page_response = client.get(f"/reports/{year}")
            assert page_response.status_code == 200, page_response.status_code
            return page_response.data

        baseline = timed(raw_full, repeat)
        measures: list[tuple[str, Callable[[], object]]] = [
            ("raw SQL, one fiscal year (for reference)", raw_year),
            ("year totals: month, case, channel, currency", lambda: _year_rows(funding, year, base)),
            ("cases: goal, raised, people", lambda: funding._cases(*funding._months(year), [], base)),
            ("donors: new, returning, LYBUNT, SYBUNT", lambda: funding._donor_figures(year)),
            ("median gift", lambda: _median(funding, year)),
            ("whole funding report", lambda: funding.funding_report(year)),
            ("transparency figures", lambda: services.transparency(year)),
            (f"case progress of the home page ({len(home_cases)} cases)",
             lambda: public_view.progress_for(home_cases)),
            ("/reports page, rendered", page),
        ]
        lines.append(f"\n{label}: {gifts:,} donations, {entries:,} ledger entries "
                     f"(loaded in {load_seconds:.0f} s); fiscal year {year}")
        lines.append(f"{'query':<52} {'ms':>9} {'ratio':>8}")
        lines.append(f"{'raw SQL: full aggregation of the ledger (baseline)':<52} "
                     f"{baseline * 1000:9.1f} {1:8.2f}x")
        worst = 0.0
        for name, fn in measures:
            seconds = timed(fn, repeat)
            ratio = seconds / baseline
            if not name.startswith("raw SQL"):
                worst = max(worst, ratio)
            lines.append(f"{name:<52} {seconds * 1000:9.1f} {ratio:8.2f}x")
        lines.append(f"rollups equal the raw year aggregation: {'yes' if exact else 'NO'}; "
                     f"target <= {TARGET}x: {'met' if worst <= TARGET else 'MISSED'} "
                     f"(worst {worst:.2f}x)")
        db.session.remove()
        db.engine.dispose()
    return lines


def _year_rows(funding, year: int, base: str):  # noqa: ANN001, ANN202
    from tracker.extensions import db
    from tracker.ledger.rollups import LedgerMonthTotal

    start, end = funding._months(year)
    return db.session.execute(
        sa.select(LedgerMonthTotal).where(LedgerMonthTotal.month >= start,
                                          LedgerMonthTotal.month < end,
                                          LedgerMonthTotal.currency == base)).all()


def _median(funding, year: int):  # noqa: ANN001, ANN202
    from tracker.extensions import db
    from tracker.ledger.rollups import GiftAmountMonth

    start, end = funding._months(year)
    return funding.median_of(db.session.execute(
        sa.select(GiftAmountMonth.amount_minor, sa.func.sum(GiftAmountMonth.gifts))
        .where(GiftAmountMonth.month >= start, GiftAmountMonth.month < end)
        .group_by(GiftAmountMonth.amount_minor).order_by(GiftAmountMonth.amount_minor)))


def postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        return url
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite only
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--donations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        lines += bench(f"sqlite:///{tmp}/bench.sqlite3", "SQLite", args.donations, args.repeat)
    admin = None if args.sqlite_only else postgres_admin_url()
    if admin:
        name = f"rt_report_bench_{os.getpid()}"
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
            lines += bench(url, "PostgreSQL", args.donations, args.repeat)
        finally:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
