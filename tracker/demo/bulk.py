"""Ten years of demo history for ``flask seed-demo --donations N``.

With a large N the seed first adds about 200 past cases (aliases and coarse regions only),
with their people, budget lines and a few approved payments, then N gifts over ten years:
more in December, a growing NGO, yen and dollars, cards with their fee, bank transfers and
cash, a few refunds and disputes, and donors who come back (monthly and yearly givers, many
one-time donors).

Speed (a million gifts in about a minute on SQLite): no ORM objects. The few hundred cases,
people, budget lines and payments are Core ``insert()`` executemany; donors, donations and
ledger entries go in batches of 10,000 gifts with their values prepared in the driver's own
form (SQLite: multi-row INSERTs; PostgreSQL: COPY), each entry with its local
``booked_month``. All of it runs inside the caller's transaction with the ledger's rollup
triggers dropped, and the rollups are rebuilt and the triggers put back at the end of that
same transaction (DDL is transactional on both databases), so a failure leaves nothing
behind. Every row satisfies the schema's CHECKs and foreign keys, which the database checks
as usual.

Ids are the database's own (reserved up front, so no row is read back), public ids keep
the ``demo_`` prefix, and running again with the same N adds nothing.
"""

from __future__ import annotations

import random
import re
import sqlite3
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app

from tracker.budgets.models import APPROVED, BudgetLine, Disbursement
from tracker.budgets.services import categories
from tracker.cases import workflow
from tracker.cases.models import (
    DETAINED,
    IN_TRANSIT,
    LOST_CONTACT,
    PERSON_RESCUED,
    WAITING,
    Beneficiary,
    RescueCase,
)
from tracker.core import bulk
from tracker.core.money import Money, convert, exponent
from tracker.core.time import local_zone, utcnow
from tracker.donations.models import SUCCEEDED, Donation, Donor
from tracker.extensions import db
from tracker.ledger import book, rollups
from tracker.ledger.models import (
    DISBURSEMENT,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE,
    GIFT,
    REFUND,
    LedgerEntry,
)

#: from this many demo gifts on, the seed adds the ten-year history of cases
HISTORY_MIN_GIFTS = 1000
HISTORY_CASES = 200
#: marks the history's cases (staff-only field), so a second run finds them
HISTORY_NOTE = "Demo history: an invented past case, aliases only."
MONTHS = 120
#: donations per INSERT batch (their ledger entries follow in the same round)
BATCH = 10_000
#: SQLite page cache during the load, in KiB
SQLITE_CACHE_KIB = 256 * 1024
#: ids reserved per round trip on PostgreSQL
ID_CHUNK = 20_000

# --- how the history looks --------------------------------------------------------------------

#: share of the year's gifts by calendar month (year-end appeals, the tax year in December)
SEASON = {1: 0.95, 2: 0.75, 3: 0.85, 4: 0.8, 5: 0.8, 6: 0.85, 7: 0.85, 8: 0.95, 9: 0.9,
          10: 0.95, 11: 1.2, 12: 2.4}
#: the NGO grows: the last year sees this many times the first year's gifts
GROWTH = 2.5
#: of the gifts that are not a monthly or yearly donor's, the share from someone new
NEW_DONOR_SHARE = 0.20
NEW_DONOR_SHARE_DECEMBER = 0.28
#: new donors who come back now and then; the others give once (unless monthly or yearly)
RETURNING_SHARE = 0.35
#: a new donor who goes on giving every month (for MONTHLY_MONTHS on average) or every year
MONTHLY_SHARE, MONTHLY_MONTHS = 0.055, 30
YEARLY_SHARE, YEARLY_KEEPS = 0.15, 0.78
FOREIGN_SHARE = 0.2
EMAIL_SHARE = 0.65
REFUND_SHARE = 0.0133  # of card gifts: about 1 % of all gifts
#: one card gift in this many is disputed (about 0.1 % of all gifts); counted, not drawn, so
#: that even a few thousand gifts have their disputes
DISPUTE_EVERY = 770
DISPUTE_WON_SHARE = 0.4
#: gifts a case draws on average at most (the rest go to the general fund)
GIFTS_PER_CASE = 500

#: gift amounts in major units with their weights, by the kind of currency
ONE_OFF = {
    0: ((1000, 14), (2000, 6), (3000, 22), (5000, 24), (10000, 20), (30000, 8), (50000, 3),
        (100000, 2), (300000, 1)),
    2: ((10, 12), (20, 8), (25, 16), (50, 24), (100, 24), (250, 8), (500, 4), (1000, 2)),
}
MONTHLY = {0: ((1000, 30), (2000, 25), (3000, 25), (5000, 15), (10000, 5)),
           2: ((10, 30), (20, 25), (25, 20), (50, 20), (100, 5))}

GROUPS = (
    ("A family of four", ("30-49", "30-49", "5-11", "0-4")),
    ("A mother and two children", ("30-49", "12-17", "5-11")),
    ("Two sisters", ("18-29", "12-17")),
    ("A young man", ("18-29",)),
    ("Three friends", ("18-29", "18-29", "30-49")),
    ("An elderly woman", ("70+",)),
    ("A father and his son", ("50-69", "18-29")),
    ("Five villagers", ("30-49", "50-69", "18-29", "12-17", "30-49")),
    ("A teenage girl", ("12-17",)),
    ("A grandmother and her grandson", ("70+", "5-11")),
    ("Two brothers", ("18-29", "12-17")),
    ("A family of three", ("30-49", "30-49", "0-4")),
    ("A mother and her baby", ("18-29", "0-4")),
    ("Six flood survivors", ("18-29", "30-49", "50-69", "30-49", "12-17", "5-11")),
)
JOURNEY_PLACES = ("from the northern border", "hiding after the floods",
                  "stranded in a border town", "waiting in a safe house",
                  "after a failed crossing", "in hiding for two winters")
LEGAL_PLACES = ("facing deportation", "detained after crossing", "awaiting a refugee hearing")
JOURNEY_REGIONS = ("Northeast China", "Northeast China", "Southeast Asia", "Mongolia",
                   "Central Asia")
LEGAL_REGIONS = ("Russian Far East", "Southeast Asia", "Central Asia")
#: the same words in Japanese, for the history cases' Japanese versions
GROUPS_JA = {
    "A family of four": "4人家族", "A mother and two children": "母と子ども2人", "Two sisters": "姉妹2人",
    "A young man": "若い男性", "Three friends": "友人3人", "An elderly woman": "高齢の女性",
    "A father and his son": "父と息子", "Five villagers": "同じ村の5人",
    "A teenage girl": "10代の少女", "A grandmother and her grandson": "祖母と孫",
    "Two brothers": "兄弟2人", "A family of three": "3人家族", "A mother and her baby": "母と赤ちゃん",
    "Six flood survivors": "洪水の被災者6人",
}
PLACES_JA = {
    "from the northern border": "北の国境から逃れてきた", "hiding after the floods": "洪水のあと身を潜める",
    "stranded in a border town": "国境の町で足止めされた", "waiting in a safe house": "隠れ家で待つ",
    "after a failed crossing": "越境に失敗した", "in hiding for two winters": "二度の冬を隠れて過ごした",
    "facing deportation": "強制送還の危機にある", "detained after crossing": "越境後に拘束された",
    "awaiting a refugee hearing": "難民審査を待つ",
}
REGIONS_JA = {"Northeast China": "中国東北部", "Southeast Asia": "東南アジア", "Mongolia": "モンゴル",
              "Central Asia": "中央アジア", "Russian Far East": "ロシア極東"}
#: why a past case closed, weighted
CLOSED_OUTCOMES = ("lost_contact", "lost_contact", "failed", "cancelled", "merged", "other")
JOURNEY_CATEGORIES = ("guides", "transport", "safe_house", "food", "medical")
LEGAL_CATEGORIES = ("documents_legal", "other")
MESSAGES = ("Stay safe.", "For the children.", "Thank you for your work.",
            "In memory of my grandmother.", "Happy new year to everyone.")


@dataclass(slots=True)
class _Month:
    """One local calendar month of the ten years, as a half-open UTC interval."""

    first_day: date
    lo: float  # POSIX seconds, first instant of the month
    hi: float  # first instant of the next month, or now for the month under way
    noons: list[float]  # local noon of each day of the month
    key: date | str  # first_day, in the bulk writer's form (see _Loader.day)
    dates: list[date | str]  # each day of the month, the same way


@dataclass(slots=True)
class _Window:
    """When a case could take gifts."""

    case_id: int
    start: float
    end: float
    weight: float


def seed(count: int, rng: random.Random, *, prefix: str) -> int:
    """Add demo gifts (and, for a large ``count``, the history) until ``count`` demo gifts
    exist; returns how many were added. The caller commits."""
    existing = db.session.scalar(
        sa.select(sa.func.count(Donation.id)).where(Donation.public_id.like(prefix + "%"))
    ) or 0
    missing = max(0, count - int(existing))
    if not missing:
        return 0
    conn = db.session.connection()
    dialect = conn.dialect.name
    _start_writing(conn)

    def execute(sql: str) -> None:
        conn.execute(sa.text(sql))

    rollups.drop_triggers(execute, dialect)
    with _roomy_cache(conn):
        loader = _Loader(conn, rng, prefix, missing)
        made_history = False
        if count >= HISTORY_MIN_GIFTS and not _history_exists():
            loader.add_history_cases(HISTORY_CASES)
            made_history = True
        loader.add_gifts(missing)
        if made_history:
            loader.add_budgets_and_payments()
        click.echo("Summing the monthly rollups...")
        rollups.rebuild(execute)
    rollups.create_triggers(execute, dialect)
    return missing


@contextmanager
def _roomy_cache(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, a page cache large enough for the indexes being filled (the default 2 MB
    makes every batch re-read them); the connection's own setting comes back afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _start_writing(conn: sa.Connection) -> None:
    """Make sure a transaction is open before any DDL.

    Python's sqlite3 opens its transaction at the first INSERT/UPDATE/DELETE only; a DROP
    TRIGGER before that would run (and stay) on its own. A no-op UPDATE opens it, after
    which SQLite's DDL is transactional like PostgreSQL's.
    """
    conn.execute(sa.update(Donor).where(sa.false()).values(name=Donor.name))
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and not getattr(raw, "in_transaction", True):
        raise RuntimeError("could not open a transaction for the demo load")


def _history_exists() -> bool:
    return db.session.scalar(
        sa.select(sa.func.count(RescueCase.id)).where(RescueCase.private_notes == HISTORY_NOTE)
    ) > 0


class _Ids:
    """The next ids of a table, reserved from the database so no row needs reading back.

    On SQLite the transaction holds the write lock, so max(id) + 1 onwards is ours; on
    PostgreSQL the ids come from the table's own sequence."""

    def __init__(self, conn: sa.Connection, table: sa.Table, chunk: int = ID_CHUNK) -> None:
        self.conn, self.table, self.chunk = conn, table, max(1, min(chunk, ID_CHUNK))
        self.buffer: list[int] = []
        self.pos = 0
        self.next = 0

    def take(self) -> int:
        if self.pos == len(self.buffer):
            self._refill()
        value = self.buffer[self.pos]
        self.pos += 1
        return value

    def _refill(self) -> None:
        self.pos = 0
        if self.conn.dialect.name == "postgresql":
            self.buffer = sorted(self.conn.execute(
                sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(self.table.name, "id")))
                .select_from(sa.func.generate_series(1, self.chunk))
            ).scalars())
            return
        if not self.next:
            self.next = int(self.conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(self.table.c.id), 0))).scalar_one()) + 1
        self.buffer = list(range(self.next, self.next + self.chunk))
        self.next += self.chunk


def _lookup(weighted: Sequence[tuple[int, int]], scale: int) -> list[int]:
    """A 1000-slot table to draw a weighted amount with one random number."""
    total = sum(w for _, w in weighted)
    table: list[int] = []
    for value, weight in weighted:
        table += [value * scale] * round(1000 * weight / total)
    return (table + [weighted[-1][0] * scale] * 1000)[:1000]


class _Loader:
    """Writes the history in batches; keeps what the budgets need (money per case and month)."""

    def __init__(self, conn: sa.Connection, rng: random.Random, prefix: str, missing: int) -> None:
        app = current_app
        self.conn, self.rng, self.prefix = conn, rng, prefix
        self.zone = local_zone()
        self.base = app.config["TRACKER_BASE_CURRENCY"]
        self.rates: dict[str, Decimal] = app.config["TRACKER_EXCHANGE_RATES"]
        self.fee_rate: Decimal = app.config["TRACKER_SANDBOX_FEE_PERCENT"] / 100
        self.max_gift = app.config["TRACKER_MAX_GIFT_MINOR"]
        self.threshold = app.config["TRACKER_APPROVAL_THRESHOLD_MINOR"]
        wanted = [c for c in ("USD", *app.config["TRACKER_CURRENCIES"], "JPY", "EUR")
                  if c != self.base and c in self.rates]
        self.foreign = wanted[0] if wanted else None
        self.sqlite = conn.dialect.name == "sqlite"
        self.sqlite_params: int | None = None
        if self.sqlite:
            raw = conn.connection.dbapi_connection
            self.sqlite_params = min(32766, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        self.now = utcnow()
        self.now_ts = self.now.timestamp()
        self.months = self._months()
        self.month_starts = [m.lo for m in self.months]
        self.ids = {model: _Ids(conn, model.__table__, per_gift * missing + 50)
                    for model, per_gift in ((Donor, 1), (Donation, 1), (LedgerEntry, 2))}
        self.settlements: dict[tuple[int, str], tuple[int, int, Decimal | float]] = {}
        #: base-currency money raised per history case and month index (for the payments)
        self.raised: dict[int, list[int]] = {}
        self.new_cases: list[dict[str, Any]] = []

    # --- calendar ---------------------------------------------------------------------------

    def _months(self) -> list[_Month]:
        """The last MONTHS local months, the one under way (up to now) last."""
        today = self.now.astimezone(self.zone).date()
        year, month = today.year, today.month
        firsts = []
        for _ in range(MONTHS):
            firsts.append(date(year, month, 1))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        firsts.reverse()
        months = []
        for i, first in enumerate(firsts):
            following = (date(first.year + 1, 1, 1) if first.month == 12
                         else date(first.year, first.month + 1, 1))
            lo = datetime.combine(first, time.min, self.zone).timestamp()
            hi = datetime.combine(following, time.min, self.zone).timestamp()
            days = (following - first).days
            noons = [datetime.combine(first + timedelta(days=d), time(12), self.zone).timestamp()
                     for d in range(days)]
            months.append(_Month(first, lo, min(hi, self.now_ts) if i == MONTHS - 1 else hi, noons,
                                 self.day(first),
                                 [self.day(first + timedelta(days=d)) for d in range(days)]))
        return months

    def _month_of(self, ts: float) -> int:
        return max(0, min(MONTHS - 1, bisect_right(self.month_starts, ts) - 1))

    def _utc(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    def stamp(self, ts: float) -> datetime | str:
        """A UTC instant in the driver's own form for the bulk writer: what UTCDateTime would
        store (naive UTC text on SQLite, an aware datetime for PostgreSQL)."""
        moment = datetime.fromtimestamp(ts, UTC)
        if self.sqlite:
            return moment.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
        return moment

    def day(self, value: date) -> date | str:
        """A date in the driver's own form (ISO text on SQLite, as SQLAlchemy stores it)."""
        return value.isoformat() if self.sqlite else value

    def write(self, model: Any, columns: Sequence[str], rows: list[tuple]) -> None:
        """Write rows whose values are already in the driver's form (see ``stamp``)."""
        bulk.write_rows(self.conn, model.__table__.name, columns, rows, sqlite_params=self.sqlite_params)

    # --- cases ------------------------------------------------------------------------------

    def add_history_cases(self, how_many: int) -> None:
        """About ``how_many`` past cases over the ten years; old ones ended, a few still open."""
        rng = self.rng
        first, last = self.months[0].lo, self.now_ts - 20 * 86400
        starts = sorted(rng.uniform(first, last) for _ in range(how_many))
        case_ids = _Ids(self.conn, RescueCase.__table__, how_many)
        cases, people = [], []
        for n, created in enumerate(starts, start=1):
            legal = rng.random() < 0.12
            group, bands = rng.choice([g for g in GROUPS if len(g[1]) <= 2] if legal else GROUPS)
            place = rng.choice(LEGAL_PLACES if legal else JOURNEY_PLACES)
            year = datetime.fromtimestamp(created, self.zone).year
            title = f"{group} {place} ({year})"
            title_ja = f"{PLACES_JA[place]}{GROUPS_JA[group]}（{year}年）"
            slug = re.sub(r"[^a-z0-9]+", "-", f"{group} {place} {year}".lower()).strip("-")
            published = created + rng.uniform(2, 14) * 86400
            end = published + rng.uniform(150, 720 if legal else 420) * 86400
            requested = n > how_many - 2
            ended = end < self.now_ts - 86400 and not requested
            status, outcome = self._case_status(legal, ended, requested, rng)
            completed = end if ended else None
            case_id = case_ids.take()
            statuses = self._people(status, outcome, len(bands), published, end, rng)
            for position, (band, (person_status, rescued_on)) in enumerate(
                    zip(bands, statuses, strict=True)):
                people.append({
                    "case_id": case_id, "position": position, "public_alias": _alias(band, rng),
                    "age_band": band, "status": person_status, "rescued_on": rescued_on,
                    "private_name": "(demo: real name kept private)", "private_details": "",
                    "private_rescue_note": "", "created_at": self._utc(created),
                })
            if status == workflow.RESCUED:
                # the case ended the day its last person reached safety
                completed = datetime.combine(max(r for _, r in statuses), time(18),
                                             self.zone).timestamp()
            cases.append({
                "id": case_id, "slug": f"{slug[:70]}-{n}", "public_title": title,
                "public_summary": _summary(status, len(bands)),
                "public_region": (region := rng.choice(LEGAL_REGIONS if legal else JOURNEY_REGIONS)),
                "public_title_ja": title_ja, "public_region_ja": REGIONS_JA[region],
                "public_summary_ja": _summary_ja(status, len(bands)),
                "track": "legal" if legal else "journey", "status": status, "outcome": outcome,
                "goal_amount_minor": self._major(500_000) * len(bands), "goal_currency": self.base,
                "goal_follows_budget": True, "show_budget": rng.random() < 0.6,
                "private_notes": HISTORY_NOTE, "private_contact": "",
                "created_at": self._utc(created),
                "updated_at": self._utc(completed or min(self.now_ts, end)),
                "published_at": None if requested else self._utc(published),
                "completed_at": self._utc(completed) if completed else None,
            })
        self.conn.execute(RescueCase.__table__.insert(), cases)
        self.conn.execute(Beneficiary.__table__.insert(), people)
        self.new_cases = cases

    @staticmethod
    def _case_status(legal: bool, ended: bool, requested: bool,
                     rng: random.Random) -> tuple[str, str | None]:
        """Old cases ended (mostly rescued), recent ones open, the two newest not yet public."""
        if requested:
            return workflow.REQUESTED, None
        if ended:
            if rng.random() < 0.75:
                return workflow.RESCUED, None
            return workflow.CLOSED, ("deported" if legal and rng.random() < 0.5
                                     else rng.choice(CLOSED_OUTCOMES))
        if rng.random() < 0.1:
            return workflow.ON_HOLD, None
        if legal:
            return workflow.LEGAL_ACTION, None
        return (workflow.IN_PROGRESS if rng.random() < 0.6 else workflow.FUNDRAISING), None

    def _people(self, status: str, outcome: str | None, count: int, published: float,
                end: float, rng: random.Random) -> list[tuple[str, date | None]]:
        """Each person's status and rescue date (inside the case's life, never in the future)."""

        def day(lo: float, hi: float) -> date:
            return datetime.fromtimestamp(rng.uniform(lo, min(hi, self.now_ts - 86400)),
                                          self.zone).date()

        life = end - published
        if status == workflow.RESCUED:
            return [(PERSON_RESCUED, day(published + 0.4 * life, end)) for _ in range(count)]
        if status == workflow.CLOSED:
            rest = {"lost_contact": LOST_CONTACT, "deported": DETAINED}.get(outcome or "", WAITING)
            saved = 1 if count > 1 and rng.random() < 0.3 else 0
            return ([(PERSON_RESCUED, day(published + 0.3 * life, end))] * saved
                    + [(rest, None)] * (count - saved))
        if status == workflow.IN_PROGRESS:  # on the way; some may be safe already, not all
            saved = rng.randint(0, count - 1)
            return ([(PERSON_RESCUED, day(published, self.now_ts))] * saved
                    + [(IN_TRANSIT, None)] * (count - saved))
        if status == workflow.LEGAL_ACTION:
            return [(DETAINED if rng.random() < 0.5 else WAITING, None)] * count
        return [(WAITING, None)] * count

    def _major(self, yen: int) -> int:
        """A yen-sized amount in the base currency's minor units (as the fixed demo does)."""
        return yen if self.base == "JPY" else yen // 100

    def _windows(self) -> list[_Window]:
        """Every public case with the span it took gifts in (a history case: from publication
        to its end; the fixed demo's cases, entered today: their last 90 days)."""
        rows = self.conn.execute(
            sa.select(RescueCase.id, RescueCase.created_at, RescueCase.published_at,
                      RescueCase.completed_at, RescueCase.private_notes == HISTORY_NOTE)
            .where(RescueCase.is_public).order_by(RescueCase.id)
        ).all()
        windows = []
        for case_id, created, published, completed, history in rows:
            end = completed.timestamp() if completed else self.now_ts
            start = (published or created).timestamp()
            if not history:
                # the fixed demo's cases were entered today: say they raised money for 90 days
                start = min(start, end - 90 * 86400)
            weight = self.rng.lognormvariate(0, 0.8) * (1.5 if completed is None else 1)
            windows.append(_Window(case_id, start, end, weight))
        return windows

    # --- gifts ------------------------------------------------------------------------------

    def add_gifts(self, missing: int) -> None:
        """``missing`` gifts over the ten years, month by month, in batches."""
        rng = self.rng
        weights = []
        for i, month in enumerate(self.months):
            span = (month.hi - month.lo) / ((month.noons[-1] - month.noons[0]) + 86400)
            weights.append((1 + (GROWTH - 1) * i / (MONTHS - 1)) * SEASON[month.first_day.month]
                           * span)
        total, running, targets, done = sum(weights), 0.0, [], 0
        for weight in weights:
            running += weight
            upto = round(missing * running / total)
            targets.append(upto - done)
            done = upto
        windows = self._windows()
        history = {c["id"] for c in self.new_cases}
        self.raised = {case_id: [0] * MONTHS for case_id in history}
        case_share = min(0.9, GIFTS_PER_CASE * max(1, len(windows)) / (0.65 * missing))
        gifts = _GiftMaker(self, self._next_number(), case_share)
        with click.progressbar(length=missing, label="Demo gifts") as bar:
            for index, (month, target) in enumerate(zip(self.months, targets, strict=True)):
                eligible = self._eligible(windows, month)
                gifts.month(index, month, target, eligible, rng)
                if len(gifts.donations) >= BATCH:
                    bar.update(gifts.flush())
            bar.update(gifts.flush())

    def _eligible(self, windows: list[_Window], month: _Month) -> tuple[list, list[float]]:
        spans, cumulative, total = [], [], 0.0
        for w in windows:
            lo, hi = max(month.lo, w.start), min(month.hi, w.end)
            if hi - lo > 2 * 86400:
                spans.append((w.case_id, lo, hi))
                total += w.weight
                cumulative.append(total)
        return spans, cumulative

    def _next_number(self) -> tuple[int, int]:
        """The next demo gift number and the next demo donor number."""
        last_id = self.conn.execute(
            sa.select(sa.func.max(Donation.public_id)).where(Donation.public_id.like(self.prefix + "%"))
        ).scalar()
        tail = re.search(r"(\d+)$", last_id or "")
        gift = int(tail.group(1)) + 1 if tail else 0
        names = self.conn.execute(
            sa.select(Donor.name).where(Donor.name.like("Demo donor %"))).scalars()
        donor = max((int(n[11:]) for n in names if n[11:].isdigit()), default=0) + 1
        return gift, donor

    def settlement(self, amount: int, currency: str) -> tuple[int, int, Decimal | float]:
        """(gross, card fee, rate) of a gift, at the configured rate and sandbox fee; the rate
        in the bulk writer's form (SQLite's NUMERIC column keeps a float the way SQLAlchemy's
        Numeric does)."""
        key = (amount, currency)
        found = self.settlements.get(key)
        if found is None:
            rate = self.rates[currency]
            gross = convert(Money(amount, currency), self.base, rate).amount_minor
            fee = convert(Money(gross, self.base), self.base, self.fee_rate).amount_minor \
                if self.fee_rate else 0
            found = self.settlements[key] = (gross, fee, float(rate) if self.sqlite else rate)
        return found

    # --- budgets and payments ---------------------------------------------------------------

    def add_budgets_and_payments(self) -> None:
        """Budget lines sized to what each history case raised, the goal following them, and
        a few approved payments dated when the money was already there (never overdrawn)."""
        rng = self.rng
        configured = list(categories())
        line_ids = _Ids(self.conn, BudgetLine.__table__, 5 * len(self.new_cases))
        payment_ids = _Ids(self.conn, Disbursement.__table__, 12 * len(self.new_cases))
        lines, payments, entries, goals = [], [], [], []
        for case in self.new_cases:
            track = LEGAL_CATEGORIES if case["track"] == "legal" else JOURNEY_CATEGORIES
            keys = [k for k in track if k in configured] or configured[:3]
            keys = keys[: rng.randint(min(2, len(keys)), len(keys))]
            monthly = self.raised.get(case["id"], [0] * MONTHS)
            raised = sum(monthly)
            status = case["status"]
            stretch = {workflow.RESCUED: (0.85, 1.05), workflow.CLOSED: (1.0, 2.0)}.get(
                status, (1.2, 3.0))
            # never below the first estimate (a sum per person), whatever came in
            goal = max(int(raised * rng.uniform(*stretch)), case["goal_amount_minor"],
                       len(keys) * 1000)
            shares = [rng.uniform(1, 3) for _ in keys]
            planned = [max(1000, int(goal * s / sum(shares)) // 1000 * 1000) for s in shares]
            case_lines = []
            for key, amount in zip(keys, planned, strict=True):
                line_id = line_ids.take()
                case_lines.append((line_id, amount))
                lines.append({"id": line_id, "case_id": case["id"], "category": key,
                              "planned_minor": amount, "currency": self.base,
                              "private_note": "", "created_at": case["created_at"],
                              "updated_at": case["created_at"]})
            goals.append({"case": case["id"], "goal": sum(planned)})
            spend_ratio = {workflow.RESCUED: (0.7, 0.9), workflow.CLOSED: (0.1, 0.4),
                           workflow.IN_PROGRESS: (0.2, 0.6), workflow.LEGAL_ACTION: (0.2, 0.6),
                           }.get(status, (0.0, 0.2))
            self._payments(case, case_lines, monthly, rng.uniform(*spend_ratio), payment_ids,
                           payments, entries)
        self.conn.execute(BudgetLine.__table__.insert(), lines)
        self.conn.execute(
            sa.update(RescueCase.__table__).where(RescueCase.__table__.c.id == sa.bindparam("case"))
            .values(goal_amount_minor=sa.bindparam("goal")), goals)
        if payments:
            self.conn.execute(Disbursement.__table__.insert(), payments)
            book.insert_rows(self.conn, entries)

    def _payments(self, case: dict, lines: list[tuple[int, int]], monthly: list[int], ratio: float,
                  ids: _Ids, payments: list, entries: list) -> None:
        """Up to a dozen payments at or under the approval threshold (so each counted at once),
        each in a month when what came in before covers everything paid so far."""
        rng = self.rng
        budget = sum(amount for _, amount in lines)
        unit = 1000 if self.base == "JPY" else 100
        size_cap = self.threshold // unit * unit
        total = min(int(sum(monthly) * ratio), budget)
        if size_cap < unit or total < unit:
            return
        count = max(1, min(12, -(-total // size_cap)))
        spent = 0
        start = case["published_at"].timestamp()
        end = case["completed_at"].timestamp() if case["completed_at"] else self.now_ts
        for _ in range(count):
            amount = min(size_cap, max(unit, int(total / count * rng.uniform(0.7, 1.2)) // unit * unit))
            spent += amount
            # the first month whose earlier months raised enough for everything paid so far
            covered, month = 0, 0
            while covered * 0.8 < spent:
                if month == MONTHS - 1:
                    return
                covered += monthly[month]
                month += 1
            lo = max(self.months[month].lo, start)
            hi = min(self.months[month].hi, end, self.now_ts - 86400)
            if hi <= lo:
                return
            spent_on = datetime.fromtimestamp(rng.uniform(lo, hi), self.zone).date()
            booked = datetime.combine(spent_on, time(12), self.zone)
            line_id = rng.choice(lines)[0]
            payment_id = ids.take()
            payments.append({
                "id": payment_id, "case_id": case["id"], "budget_line_id": line_id,
                "spent_on": spent_on, "amount_minor": amount, "currency": self.base,
                "exchange_rate": Decimal(1), "base_amount_minor": amount,
                "base_currency": self.base, "private_payee": "(demo: payee kept private)",
                "private_note": "Demo payment.", "status": APPROVED, "needs_approval": False,
                "reverses_id": None, "created_by_id": None, "created_at": booked,
                "decided_by_id": None, "decided_at": booked,
            })
            entries.append({
                "id": self.ids[LedgerEntry].take(), "kind": DISBURSEMENT, "case_id": case["id"],
                "donation_id": None, "disbursement_id": payment_id, "amount_minor": -amount,
                "currency": self.base, "original_amount_minor": -amount,
                "original_currency": self.base, "gateway_ref": None, "transfer_group": None,
                "memo": "", "booked_at": booked, "booked_month": spent_on.replace(day=1),
                "created_at": booked, "created_by_id": None,
            })


DONOR_COLUMNS = ("id", "email", "name", "created_at")
DONATION_COLUMNS = (
    "id", "public_id", "case_id", "donor_id", "amount_minor", "currency", "channel", "gateway",
    "status", "settled_currency", "gross_minor", "fee_minor", "net_minor", "exchange_rate",
    "livemode", "received_on", "display_name", "show_on_wall", "message", "message_status",
    "wants_updates", "created_at", "settled_at",
)


class _GiftMaker:
    """The donors and their gifts, month by month; rows wait in buffers until ``flush``."""

    def __init__(self, loader: _Loader, numbers: tuple[int, int], case_share: float) -> None:
        self.loader = loader
        self.rng = loader.rng
        self.case_share = case_share
        self.number, self.donor_number = numbers
        base, foreign = loader.base, loader.foreign
        self.currencies = (base, foreign) if foreign else (base,)
        self.one_off = {c: _lookup(ONE_OFF[min(2, exponent(c))], 10 ** exponent(c))
                        for c in self.currencies}
        self.monthly = {c: _lookup(MONTHLY[min(2, exponent(c))], 10 ** exponent(c))
                        for c in self.currencies}
        self.donor_ids = loader.ids[Donor]
        self.donation_ids = loader.ids[Donation]
        self.entry_ids = loader.ids[LedgerEntry]
        # per donor (by index): database id, number, currency, preferred channel
        self.d_id: list[int] = []
        self.d_number: list[int] = []
        self.d_currency: list[str] = []
        self.d_channel: list[str] = []
        #: donors who come back now and then (by index), and those first seen this month
        self.returning: list[int] = []
        self.joined: list[int] = []
        #: [donor, amount, channel, second of the month] of monthly givers, with the last month
        self.monthly_givers: list[list] = []
        self.yearly_givers: dict[int, list[int]] = defaultdict(list)
        self.cards = 0
        self.donors: list[tuple] = []
        self.donations: list[tuple] = []
        self.entries: list[tuple] = []

    # donors

    def new_donor(self, ts: float) -> int:
        """A new donor, first seen giving at ``ts``: currency, usual channel, maybe an email."""
        rng = self.rng
        number = self.donor_number
        self.donor_number += 1
        foreign = len(self.currencies) > 1 and rng.random() < FOREIGN_SHARE
        r = rng.random()
        if foreign:
            channel = "card" if r < 0.9 else "bank_transfer"
        else:
            channel = "card" if r < 0.72 else ("bank_transfer" if r < 0.9 else "cash")
        email = (f"demo-{number}@example.org"
                 if rng.random() < (EMAIL_SHARE if channel == "card" else 0.25) else None)
        donor_id = self.donor_ids.take()
        # a little before the first gift (an offline gift is booked at noon of a day near it)
        self.donors.append((donor_id, email, f"Demo donor {number}", self.loader.stamp(ts - 172800)))
        self.d_id.append(donor_id)
        self.d_number.append(number)
        self.d_currency.append(self.currencies[1] if foreign else self.currencies[0])
        self.d_channel.append(channel)
        if rng.random() < RETURNING_SHARE:
            self.joined.append(len(self.d_id) - 1)
        return len(self.d_id) - 1

    # one month

    def month(self, index: int, month: _Month, target: int, eligible: tuple[list, list[float]],
              rng: random.Random) -> None:
        """Exactly ``target`` gifts in ``month``: monthly and yearly givers first, then
        one-off gifts from new and returning donors."""
        recurring: list[tuple[int, int, str, float, bool]] = []
        still = []
        for giver in self.monthly_givers:
            donor, amount, channel, offset, last = giver
            if last < index:
                continue
            still.append(giver)
            if month.lo + offset < month.hi:
                recurring.append((donor, amount, channel, month.lo + offset, False))
        self.monthly_givers = still
        moy = month.first_day.month
        keep = []
        for donor in self.yearly_givers.get(moy, ()):
            if rng.random() < YEARLY_KEEPS:
                keep.append(donor)
                ts = rng.uniform(month.lo, month.hi)
                currency = self.d_currency[donor]
                recurring.append((donor, self.one_off[currency][int(rng.random() * 1000)],
                                  self.d_channel[donor], ts, True))
        self.yearly_givers[moy] = keep
        if len(recurring) > target:
            rng.shuffle(recurring)
            del recurring[target:]
        spans, cumulative = eligible
        total = cumulative[-1] if cumulative else 0.0
        share = self.case_share if spans else 0.0
        for donor, amount, channel, ts, may_pick_case in recurring:
            case_id, lo, hi = None, month.lo, month.hi
            if may_pick_case and rng.random() < share:
                case_id, lo, hi = spans[bisect_right(cumulative, rng.random() * total)]
                ts = rng.uniform(lo, hi)
            self.gift(index, month, donor, amount, channel, case_id, ts, lo, hi)
        new_share = NEW_DONOR_SHARE_DECEMBER if moy == 12 else NEW_DONOR_SHARE
        for _ in range(target - len(recurring)):
            if rng.random() < share:
                case_id, lo, hi = spans[bisect_right(cumulative, rng.random() * total)]
            else:
                case_id, lo, hi = None, month.lo, month.hi
            ts = lo + rng.random() * (hi - lo)
            if not self.returning or rng.random() < new_share:
                donor = self.new_donor(ts)
                channel = self.d_channel[donor]
                r = rng.random()
                if r < MONTHLY_SHARE and channel != "cash":
                    months = int(rng.expovariate(1 / MONTHLY_MONTHS)) + 2
                    amount = self.monthly[self.d_currency[donor]][int(rng.random() * 1000)]
                    self.monthly_givers.append(
                        [donor, amount, channel, min(ts - month.lo, 27 * 86400), index + months])
                elif r < MONTHLY_SHARE + YEARLY_SHARE:
                    self.yearly_givers[moy].append(donor)
            else:
                donor = self.returning[int(rng.random() * len(self.returning))]
                channel = self.d_channel[donor]
                if rng.random() < 0.1:
                    channel = "card" if channel != "card" else "bank_transfer"
            amount = self.one_off[self.d_currency[donor]][int(rng.random() * 1000)]
            if channel == "bank_transfer" and rng.random() < 0.01:
                amount = min(self.loader.max_gift, amount * rng.choice((10, 20, 50)))
            self.gift(index, month, donor, amount, channel, case_id, ts, lo, hi)
        # come back from next month on (a gift this month could be dated before their first)
        self.returning += self.joined
        self.joined = []

    def gift(self, index: int, month: _Month, donor: int, amount: int, channel: str,
             case_id: int | None, ts: float, lo: float, hi: float) -> None:
        """One settled gift with its ledger entries (fee, refund, dispute as they come)."""
        loader, rng = self.loader, self.rng
        currency = self.d_currency[donor]
        gross, fee, rate = loader.settlement(amount, currency)
        number = self.number
        self.number += 1
        public_id = f"{loader.prefix}{number:08d}"
        donation_id = self.donation_ids.take()
        ref = book.gift_ref(public_id)
        card = channel == "card"
        if card:
            when = loader.stamp(ts)
            received_on = None
            r = rng.random()
            wall = r < 0.7
            name = f"Demo donor {self.d_number[donor]}" if r < 0.3 else ""
        else:
            fee = 0
            # booked at local noon of the day received, as the service does: that day's, or
            # its neighbour's when the noon falls outside the month or the case's span
            noons = month.noons
            day = min(len(noons) - 1, int((ts - month.lo) // 86400))
            if noons[day] < lo and day + 1 < len(noons):
                day += 1
            elif noons[day] >= hi and day > 0:
                day -= 1
            when = loader.stamp(noons[day])
            received_on = month.dates[day]
            wall, name = False, f"Demo donor {self.d_number[donor]}"
        message = MESSAGES[int(rng.random() * len(MESSAGES))] if rng.random() < 0.03 else ""
        self.donations.append((
            donation_id, public_id, case_id, self.d_id[donor], amount, currency, channel,
            "sandbox" if card else "offline", SUCCEEDED, loader.base, gross, fee, gross - fee, rate,
            False, received_on, name, wall, message, "approved" if message else "none",
            rng.random() < 0.3, when, when,
        ))
        month_day = month.key
        entries = self.entries
        entries.append((self.entry_ids.take(), GIFT, case_id, donation_id, gross, loader.base,
                        amount, currency, ref, "", when, month_day, when))
        if fee:
            entries.append((self.entry_ids.take(), FEE, case_id, donation_id, -fee, loader.base,
                            None, None, ref, "", when, month_day, when))
        raised = loader.raised.get(case_id) if case_id is not None else None
        if raised is not None:
            raised[index] += gross
        if card:
            self.cards += 1
            if self.cards % DISPUTE_EVERY == DISPUTE_EVERY // 2:
                self._dispute(number, donation_id, case_id, amount, currency, gross, ts, raised)
            elif rng.random() < REFUND_SHARE:
                self._refund(number, donation_id, case_id, amount, currency, gross, ts, raised)

    def _later(self, kind: str, ref: str, donation_id: int, case_id: int | None, base_minor: int,
               original_minor: int, currency: str, ts: float, memo: str,
               raised: list[int] | None) -> None:
        loader = self.loader
        when = loader.stamp(ts)
        local = datetime.fromtimestamp(ts, loader.zone)
        self.entries.append((self.entry_ids.take(), kind, case_id, donation_id, base_minor,
                             loader.base, original_minor, currency, ref, memo, when,
                             loader.day(date(local.year, local.month, 1)), when))
        if raised is not None:
            raised[loader._month_of(ts)] += base_minor

    def _refund(self, number: int, donation_id: int, case_id: int | None, amount: int,
                currency: str, gross: int, ts: float, raised: list[int] | None) -> None:
        """A refund some days later (a few much later, into the next fiscal year sometimes);
        one in five is partial, its base share proportional as the payment service books it."""
        rng = self.rng
        days = rng.uniform(1, 45) if rng.random() < 0.9 else rng.uniform(60, 200)
        when = ts + days * 86400
        if when >= self.loader.now_ts:
            return
        part, base = amount, gross
        if rng.random() < 0.2 and amount > 1:
            part = amount // 2
            base = (2 * gross * part + amount) // (2 * amount)  # half up, like _base_share
        if base <= 0:
            return
        self._later(REFUND, f"demo_re_{number}", donation_id, case_id, -base, -part, currency,
                    when, "refund", raised)

    def _dispute(self, number: int, donation_id: int, case_id: int | None, amount: int,
                 currency: str, gross: int, ts: float, raised: list[int] | None) -> None:
        """A chargeback some weeks later; four in ten are won and the money comes back."""
        rng = self.rng
        opened = ts + rng.uniform(7, 60) * 86400
        if opened >= self.loader.now_ts:
            return
        ref = f"demo_dp_{number}"
        self._later(DISPUTE, ref, donation_id, case_id, -gross, -amount, currency, opened,
                    "dispute opened", raised)
        won = opened + rng.uniform(20, 75) * 86400
        if rng.random() < DISPUTE_WON_SHARE and won < self.loader.now_ts:
            self._later(DISPUTE_REVERSAL, ref, donation_id, case_id, gross, amount, currency,
                        won, "dispute won", raised)

    def flush(self) -> int:
        """Write the buffered donors, donations and entries; returns how many gifts."""
        loader, written = self.loader, len(self.donations)
        loader.write(Donor, DONOR_COLUMNS, self.donors)
        loader.write(Donation, DONATION_COLUMNS, self.donations)
        book.write_bulk(loader.conn, self.entries, sqlite_params=loader.sqlite_params)
        self.donors, self.donations, self.entries = [], [], []
        return written


def _alias(band: str, rng: random.Random) -> str:
    letters = "ABCDEGHJKMNOPRSTUWY"
    initials = f"{rng.choice(letters)}." + (f"{rng.choice(letters)}." if rng.random() < 0.6 else "")
    if band == "0-4":
        return f"Little {initials[:2]}"
    if band in ("5-11", "12-17"):
        return f"Young {initials[:2]}"
    return f"{rng.choice(('Mr.', 'Ms.', 'Mrs.'))} {initials}"


def _summary_ja(status: str, people: int) -> str:
    """``_summary`` in Japanese."""
    if status == workflow.RESCUED:
        return (f"ご支援により、{people}人が安全な場所にたどり着きました。ご寄付は案内人、移動手段、"
                "道中の隠れ家の費用に使われました。ご寄付くださった皆さまに感謝いたします。")
    if status == workflow.CLOSED:
        return (f"{people}人のために力を尽くしましたが、救出を最後まで進めることができませんでした。"
                "残ったご寄付は、助けを必要とするほかの方々のために使います。")
    return (f"{people}人から救出の依頼が届いています。"
            "一人ひとりの救出には、案内人、移動手段、隠れ家の費用がかかります。")


def _summary(status: str, people: int) -> str:
    who = "one person" if people == 1 else f"{people} people"
    if status == workflow.RESCUED:
        return (f"This case helped {who} reach safety. Thank you to everyone who gave: "
                "guides, transport and a safe house along the way were paid from your gifts.")
    if status == workflow.CLOSED:
        return (f"We worked for {who} but could not finish the journey. The money left was kept "
                "for others in need.")
    return f"A request for help from {who}. Each rescue costs guides, transport and a safe house."

