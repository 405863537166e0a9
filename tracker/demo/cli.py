"""``flask seed-demo``: demo data modelled on a real NGO's archive, aliases only."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.accounts import services as accounts
from tracker.accounts import totp
from tracker.accounts.models import User
from tracker.budgets import services as budgets
from tracker.cases import covers, services, workflow
from tracker.cases.models import RescueCase
from tracker.core import faces
from tracker.core.money import Money
from tracker.core.time import (
    current_fiscal_year,
    fiscal_year_dates,
    local_today,
    utcnow,
)
from tracker.demo import bulk as bulk_seed
from tracker.demo.covers import landscape_jpeg
from tracker.demo.organization import seed_organization
from tracker.donations import services as donations
from tracker.extensions import db
from tracker.posts import services as posts
from tracker.posts.models import PUBLISHED, SCHEDULED, Post, post_cases

DEMO_ACCOUNTS = (
    ("staff@example.org", "staff"),
    ("director@example.org", "director"),
    ("admin@example.org", "admin"),
)
DEMO_PREFIX = "demo_"

# Written for this demo; the people are invented and known by aliases only.
CASES = [
    {
        "slug": "six-flood-survivors",
        "title": "Six flood survivors hiding across the border",
        "region": "Northeast China",
        "summary": (
            "Late-summer floods swept away their village. Six people, one of them a "
            "four-year-old girl, crossed the river looking for food and now hide in China. "
            "They asked us to help them reach a safe country.\n\n"
            "Each rescue costs guides, transport and a safe house along the way."
        ),
        "title_ja": "国境の向こうに身を潜める洪水の被災者6人",
        "region_ja": "中国東北部",
        "summary_ja": (
            "夏の終わりの洪水で村が流され、4歳の女の子を含む6人が食べ物を求めて川を渡りました。"
            "いまは中国で身を隠しながら、安全な国へたどり着くための支援を求めています。\n\n"
            "一人ひとりの救出には、案内人、移動手段、道中の隠れ家の費用がかかります。"
        ),
        "goal": 3_000_000,
        "people": [("Mr. K.H.", "18-29"), ("Ms. R.S.", "30-49"), ("Mrs. O.M.", "50-69"),
                   ("Mr. D.W.", "30-49"), ("Ms. E.T.", "18-29"), ("Little N.", "0-4")],
        "statuses": [workflow.FUNDRAISING, workflow.IN_PROGRESS],
        "rescued": 1,
        # base-currency (yen) plan per category; the goal follows it, donors see it
        "budget": {"guides": 1_200_000, "transport": 600_000, "safe_house": 900_000,
                   "food": 300_000},
        "grant": 1_200_000,
        "paid": [("guides", 95_000), ("transport", 42_000), ("safe_house", 60_000),
                 ("food", 18_000), ("guides", 240_000)],
    },
    {
        "slug": "deportation-hearing-appeal",
        "title": "Stopping a deportation: a refugee's legal fight",
        "region": "Russian Far East",
        "summary": (
            "A man who escaped years ago was arrested and faces a court ruling on his "
            "deportation. We are petitioning courts and embassies and paying for his lawyer "
            "while his refugee claim is pending."
        ),
        "title_ja": "強制送還を止めるために：難民の法廷での闘い",
        "region_ja": "ロシア極東",
        "summary_ja": (
            "何年も前に脱出した男性が拘束され、強制送還をめぐる裁判所の判断を待っています。"
            "難民申請の審査が続くあいだ、裁判所や大使館への働きかけを続け、弁護士費用を支えています。"
        ),
        "goal": 800_000,
        "track": "legal",
        "people": [("Mr. P.J.", "30-49")],
        "statuses": [workflow.LEGAL_ACTION],
        "rescued": 0,
        "budget": {"documents_legal": 650_000, "other": 150_000},
        "grant": 300_000,
        "paid": [("documents_legal", 90_000), ("other", 12_000)],
    },
    {
        "slug": "mother-and-son",
        "title": "A mother and her son reach safety",
        "region": "Southeast Asia",
        "summary": "A mother and her teenage son waited two winters for a way out. Both are now safe.",
        "title_ja": "母と息子、安全な場所へ",
        "region_ja": "東南アジア",
        "summary_ja": "母親と10代の息子は、逃れる道が開けるのを二度の冬を越えて待ちました。"
                      "いまは2人とも安全な場所にいます。",
        "goal": 1_200_000,
        "people": [("Mrs. H.A.", "30-49"), ("Young S.", "12-17")],
        "statuses": [workflow.FUNDRAISING, workflow.IN_PROGRESS],
        "rescued": 2,
        "budget": {"guides": 500_000, "transport": 300_000, "safe_house": 250_000,
                   "medical": 150_000},
        "grant": 900_000,
        "paid": [("guides", 100_000), ("guides", 100_000), ("guides", 100_000),
                 ("guides", 100_000), ("guides", 90_000), ("transport", 85_000),
                 ("safe_house", 70_000), ("medical", 40_000)],
    },
    {
        "slug": "elderly-couple-request",
        "title": "An elderly couple asks for help",
        "region": "Northeast China",
        "summary": "A request under review.",
        "title_ja": "高齢のご夫婦からの救出の依頼",
        "region_ja": "中国東北部",
        "summary_ja": "依頼の内容を確認しています。",
        "goal": 1_500_000,
        "people": [("Mr. B.", "70+"), ("Mrs. B.", "70+")],
        "statuses": [],
        "rescued": 0,
    },
    {
        "slug": "lost-contact-group",
        "title": "Three people we could no longer reach",
        "region": "Northeast China",
        "summary": "Contact broke off before the journey could start. Their funds were kept for others.",
        "goal": 1_500_000,
        "people": [("Mr. T.", "18-29"), ("Ms. U.", "18-29"), ("Mr. V.", "50-69")],
        "statuses": [workflow.FUNDRAISING, (workflow.CLOSED, "lost_contact")],
        "rescued": 0,
    },
]

POSTS = [
    ("christmas-campaign-six-survivors", "appeal", "Help six flood survivors reach safety",
     "Six people who lost everything in the floods are hiding and asked us for help. "
     "One is a little girl of four. Please give what you can this season.",
     ["six-flood-survivors"], PUBLISHED),
    ("one-of-six-rescued", "rescue_report", "One of six is safe",
     "Your gifts brought the first of the six to a safe place. Five are still waiting.",
     ["six-flood-survivors"], PUBLISHED),
    ("hearing-postponed", "update", "The deportation is on hold for now",
     "The court did not deport him. His refugee claim is still pending.",
     ["deportation-hearing-appeal"], PUBLISHED),
    ("mother-and-son-safe", "rescue_report", "A mother and son are safe",
     "After two winters of waiting, both are safe. Thank you.",
     ["mother-and-son"], PUBLISHED),
    ("annual-meeting", "news", "Our annual meeting",
     "Members met in Tokyo to review the fiscal year (September to August) and plan the next.",
     [], PUBLISHED),
    ("next-steps-draft", "update", "Draft: next steps for the six",
     "Not ready for the public yet.", ["six-flood-survivors"], "draft"),
    ("embargoed-crossing-news", "update", "Embargoed: crossing news",
     "Held back until everyone is safe.", ["six-flood-survivors"], SCHEDULED),
]

#: each demo post's Japanese version (title, Markdown body): the posts above are written in
#: English, and Japanese readers see these instead
POSTS_JA = {
    "christmas-campaign-six-survivors": (
        "6人の洪水被災者を安全な場所へ",
        "洪水ですべてを失った6人が身を隠しながら、私たちに助けを求めています。"
        "そのうちの一人は4歳の女の子です。この季節、できる範囲でのご支援をお願いいたします。",
    ),
    "one-of-six-rescued": (
        "6人のうち1人が無事に",
        "皆さまのご寄付により、6人のうち最初の1人が安全な場所にたどり着きました。"
        "残る5人は今も待っています。",
    ),
    "hearing-postponed": (
        "強制送還はひとまず見送られました",
        "裁判所は彼の強制送還を命じませんでした。難民認定の申請は引き続き審査中です。",
    ),
    "mother-and-son-safe": (
        "母と息子が無事に",
        "二度の冬を越えて待ち続けた二人は、ともに安全な場所にいます。ありがとうございました。",
    ),
    "annual-meeting": (
        "年次総会のご報告",
        "会員が東京に集まり、今年度（9月〜翌年8月）を振り返って、来年度の計画を話し合いました。",
    ),
    "next-steps-draft": (
        "下書き：6人の今後について",
        "まだ公開できる段階ではありません。",
    ),
    "embargoed-crossing-news": (
        "公開待ち：国境越えの知らせ",
        "全員の安全が確認できるまで公開を控えています。",
    ),
}

#: who the audit names for what the demo loader decides itself (its drawn covers' review)
DEMO_ACTOR = "demo"


def _demo_preset_notes() -> dict[tuple[str, int], tuple[str, str]]:
    """What the yen and dollar presets pay for on an open demo case (as staff would write)."""
    notes = {
        ("JPY", 3_000): ("Food for one person for a week", "1人の1週間分の食料"),
        ("JPY", 10_000): ("A safe house for one night", "隠れ家での1泊"),
        ("JPY", 30_000): ("A guide for one person", "1人分の案内人の費用"),
        ("USD", 2_500): ("Food for one person for a week", "1人の1週間分の食料"),
        ("USD", 25_000): ("A guide for one person", "1人分の案内人の費用"),
    }
    offered = current_app.config["TRACKER_CURRENCIES"]
    return {key: text for key, text in notes.items() if key[0] in offered}


def _seed_fixed(rng: random.Random) -> int:
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    today = local_today()
    fy_start, _ = fiscal_year_dates(current_fiscal_year(),
                                    current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"])
    by_slug: dict[str, RescueCase] = {}
    for spec in CASES:
        case = services.create_case(
            services.CaseInput(
                slug=spec["slug"], public_title=spec["title"], public_region=spec["region"],
                public_summary=spec["summary"], track=spec.get("track", "journey"),
                # "lost-contact-group" has no Japanese version: its pages show the fallback
                public_title_ja=spec.get("title_ja", ""), public_region_ja=spec.get("region_ja", ""),
                public_summary_ja=spec.get("summary_ja", ""),
                goal=Money(spec["goal"] if base == "JPY" else spec["goal"] // 100, base),
                private_notes="Demo only: contacts and routes would be recorded here.",
            ),
            base,
        )
        # a drawn landscape (places, never people), checked like any upload; the loader drew
        # it, so it records the review itself (audited as "demo") and the demo site shows it
        cover = covers.store_cover(case, landscape_jpeg(rng.randint(0, 10_000)),
                                   "A landscape of hills under the sky, with a road or a river "
                                   "(a drawn demo picture)", None)
        if cover.face_unreviewed:  # a cascade "seeing" a face in the hills leaves it to staff
            covers.review_cover(case, faces.CONFIRM_NO_PERSON, {"looked": True},
                                actor_label=DEMO_ACTOR)
        for category, planned in spec.get("budget", {}).items():
            budgets.set_line(case, category, Money(planned if base == "JPY" else planned // 100, base))
        if spec.get("budget"):
            budgets.set_options(case, goal_follows_budget=True, show_budget=True)
        people = [
            services.add_beneficiary(case, public_alias=alias, age_band=band,
                                     private_name="(demo: real name kept private)")
            for alias, band in spec["people"]
        ]
        for step in spec["statuses"]:
            target, outcome = step if isinstance(step, tuple) else (step, None)
            if target == workflow.CLOSED:
                break
            services.change_status(case, target)
        if case.status != workflow.REQUESTED:
            for _ in range(rng.randint(6, 14)):
                _demo_gift(case, rng, today)
            if spec.get("grant"):
                # the bulk of a rescue's money: a partner's bank transfer, before the payments
                donations.record_offline_gift(case, donations.OfflineGift(
                    amount=Money(spec["grant"] if base == "JPY" else spec["grant"] // 100, base),
                    channel="bank_transfer", received_on=today - timedelta(days=55),
                    donor_name="A partner foundation"))
            _demo_payments(case, spec.get("paid", []), rng, today)
        for person in people[: spec["rescued"]]:
            services.mark_rescued(person, max(fy_start, today - timedelta(days=rng.randint(3, 40))))
        for step in spec["statuses"]:
            if isinstance(step, tuple):
                services.change_status(case, step[0], outcome=step[1])
        by_slug[case.slug] = case
        if case.status in ("fundraising", "in_progress", "legal_action"):
            donations.save_preset_notes(case, _demo_preset_notes())
    for _ in range(5):
        _demo_gift(None, rng, today)
    now = utcnow()
    for slug, kind, title, body, case_slugs, status in POSTS:
        cases = [by_slug[s] for s in case_slugs]
        # A completed case already has its draft rescue report: the demo writes and publishes
        # that one rather than a second report.
        prepared = db.session.scalar(
            db.select(Post).join(post_cases, post_cases.c.post_id == Post.id)
            .where(Post.kind == kind, Post.status == "draft",
                   post_cases.c.case_id.in_([c.id for c in cases]))
        ) if kind == "rescue_report" and cases else None
        post = prepared or Post(cases=cases)
        post.slug, post.kind, post.title, post.body_markdown, post.status, post.language = (
            slug, kind, title, body, status, "en")
        if status == PUBLISHED:
            post.published_at = now - timedelta(days=rng.randint(1, 30))
        elif status == SCHEDULED:
            post.publish_at = now + timedelta(days=30)
        posts.set_version(post, POSTS_JA.get(slug), now)
        db.session.add(post)
    db.session.flush()
    return len(CASES)


def _demo_payments(case: RescueCase, paid: list[tuple[str, int]], rng: random.Random,
                   today) -> None:
    """Payments out of a demo case; one above the approval threshold waits for a staff member."""
    base = current_app.config["TRACKER_BASE_CURRENCY"]
    lines = {line.category: line for line in budgets.lines_for(case.id)}
    for category, amount in paid:
        budgets.record_disbursement(
            case,
            budgets.DisbursementInput(
                line_id=lines[category].id, spent_on=today - timedelta(days=rng.randint(0, 50)),
                amount=Money(amount if base == "JPY" else amount // 100, base),
                payee="(demo: payee kept private)", note="Demo payment.",
            ),
            actor=None, today=today,
        )


def _demo_gift(case: RescueCase | None, rng: random.Random, today) -> None:
    if rng.random() < 0.8:
        amount = Money(rng.choice([1000, 3000, 5000, 10000, 30000]), "JPY")
    else:
        amount = Money(rng.choice([2000, 5000, 10000, 25000]), "USD")
    donations.record_offline_gift(
        case,
        donations.OfflineGift(
            amount=amount, channel=rng.choice(["bank_transfer", "cash"]),
            received_on=today - timedelta(days=rng.randint(0, 60)),
            donor_name=rng.choice(["A friend in Osaka", "Anonymous", "K. family", "Supporter"]),
        ),
    )


def _seed_bulk(count: int, rng: random.Random) -> int:
    """Add demo gifts until ``count`` exist (with ten years of history when ``count`` is
    large, see tracker.demo.bulk); returns how many were added."""
    return bulk_seed.seed(count, rng, prefix=DEMO_PREFIX)


def _reset_accounts() -> list[tuple[str, str, str, str | None]]:
    """(email, role, password, authenticator URI or None): admins must have the second
    factor, so the demo admin gets a new secret each time, printed with its password."""
    made = []
    for email, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        user = db.session.scalar(db.select(User).where(User.email == email))
        if user is None:
            user = accounts.create_user(email, password, role)
        else:
            accounts.set_password(user, password)
            if user.role != role:
                accounts.set_role(user, role)
            if not user.active:
                accounts.set_active(user, True)
            if user.totp_secret is not None:
                totp.reset(user)
        uri = None
        if role == "admin":
            totp.enrol_without_confirmation(user)
            uri = totp.provisioning_uri(user)
        made.append((email, role, password, uri))
    return made


@click.command("seed-demo")
@click.option("--donations", "donation_count", type=click.IntRange(min=0), default=0,
              help="Also make sure this many random demo gifts exist (for reports and load).")
@click.option("--accounts", "with_accounts", is_flag=True,
              help="Create or reset the demo staff, director and admin sign-ins with new random "
                   "passwords, and print them.")
@click.option("--seed", type=int, default=2016, help="Random seed, for repeatable demo data.")
@with_appcontext
def seed_demo(donation_count: int, with_accounts: bool, seed: int) -> None:
    """Load demo cases, people, posts and gifts. Safe to run again: nothing is doubled."""
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    if services.get_by_slug(CASES[0]["slug"]) is None:
        count = _seed_fixed(rng)
        click.echo(f"Added {count} demo cases with their people, posts and gifts.")
    else:
        click.echo("Demo cases are already there.")
    if seed_organization():
        click.echo("Added the demo organization's details and its about, contact and privacy pages.")
    added = _seed_bulk(donation_count, rng) if donation_count else 0
    if donation_count:
        click.echo(f"Added {added} demo gifts ({donation_count} wanted in all).")
    made = _reset_accounts() if with_accounts else []
    db.session.commit()
    for email, role, password, uri in made:
        click.echo(f"  {role:<9} {email:<24} password: {password}")
        if uri:
            click.echo(f"  {'':<9} second factor (add to an authenticator app): {uri}")
