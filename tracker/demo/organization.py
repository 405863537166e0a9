"""The demo organization: an invented Japanese certified NPO (its name, address, corporate
number and people are made up) with its about, contact and privacy pages in both languages."""

from __future__ import annotations

from datetime import date

from tracker.organization import services
from tracker.organization.identity import current_identity

IDENTITY = services.IdentityInput(
    name_en="Tomoshibi Road",
    name_ja="ともしびの道",
    legal_name_en="Tomoshibi Road (Certified Specified Non-profit Corporation)",
    legal_name_ja="認定特定非営利活動法人ともしびの道",
    representative_en="Kenichi Sato, Representative Director",
    representative_ja="代表理事　佐藤健一",
    postal_code="160-0099",
    address_en="Tomoshibi Bldg. 2F, 9-99-9 Wakaba, Shinjuku-ku, Tokyo",
    address_ja="東京都新宿区若葉9-99-9 ともしびビル2階",
    corporate_number="1011005009999",
    certified=True,
    certified_on=date(2019, 6, 1),
    certifying_authority_en="Tokyo Metropolitan Government",
    certifying_authority_ja="東京都",
    contact_email="info@tomoshibi-road.example",
    sender_email="news@tomoshibi-road.example",
)

ABOUT_EN = """\
Tomoshibi Road is a small volunteer organization in Tokyo. Since 2009 we have helped refugees
who live in hiding reach a country where they can be safe, one group at a time.

**How a rescue works.** A request reaches us, often from someone who has already escaped. We
check it quietly, plan the journey with people we trust on the ground, and only then ask for
your help with a public appeal. Each appeal names a goal: what guides, transport, a safe house
and papers will cost for that group.

**What you see here.** Every case page shows the money given and the people who have reached
safety, counted one by one. We write about each stage: the first person across, the ones
still waiting, the legal fights when someone is arrested and faces deportation.

**What we never show.** The people in our cases are in hiding. We publish only an alias, an
age band and a coarse region. Photos show places, not faces.

**Our accounts.** Our fiscal year runs from September 1 to August 31. Each year members meet
in Tokyo to approve the accounts and the plan for the year ahead, and the transparency page
shows where every yen went.
"""

ABOUT_JA = "\n\n".join((
    ("ともしびの道は、東京を拠点とする小さなボランティア団体です。"
     "2009年から、身を隠して暮らす難民の方々が安全に暮らせる国へたどり着けるよう、"
     "一つひとつのグループを支えてきました。"),
    ("**救出の流れ。** 救出の依頼は、多くの場合すでに逃れた方から届きます。"
     "私たちは内密に事情を確かめ、現地の信頼できる協力者と道のりを計画し、"
     "そのうえで皆さまにご支援をお願いするアピールを公開します。"
     "アピールには、案内人、移動、隠れ家、書類にかかる費用をもとにした目標額を記します。"),
    ("**このサイトでお伝えすること。"
     "** 各案件のページでは、寄せられたご寄付と、"
     "安全な場所にたどり着いた方の人数を一人ずつお知らせします。"
     "最初の一人が国境を越えたとき、まだ待っている方々のこと、"
     "逮捕され強制送還のおそれがあるときの法的な取り組みなど、節目ごとにご報告します。"),
    ("**お伝えしないこと。** 案件の方々は身を隠して暮らしています。"
     "公開するのは仮名、年齢層、おおまかな地域だけです。"
     "写真に写すのは場所であり、人の顔ではありません。"),
    ("**会計について。** 当法人の事業年度は9月1日〜翌年8月31日です。"
     "毎年、東京で総会を開いて決算と翌年度の計画を承認し、"
     "透明性のページで資金の使い道をすべて公開しています。"),
)) + "\n"

PRIVACY_EN = """\
**What we keep.** When you give, we keep the amount, the date, the name you chose to show (or
none), your email address if you gave one, and the language you gave in. Card details go to
our payment service and never reach us.

**Why.** To send your receipt, to tell you when the people you helped are safe (only if you
asked), and to keep the accounts the law requires.

**What we never do.** We do not sell or share your details, and we never show your email
address on the website.

**Your choices.** You can see your gifts and receipts at "My gifts". Write to us through the
contact page and we will send you everything we hold about you, or erase your name and
address; the amounts stay in our accounts without them.
"""

PRIVACY_JA = "\n\n".join((
    ("**お預かりする情報。"
     "** ご寄付の際には、金額、日付、表示を希望されたお名前（匿名も可）、"
     "ご入力いただいた場合はメールアドレス、ご寄付の際の言語をお預かりします。"
     "カード情報は決済サービスが扱い、当法人には届きません。"),
    ("**利用目的。"
     "** 領収書のお送り、ご希望の方への救出のご報告、法律で定められた会計の記録のために利用します。"),
    ("**第三者への提供。** 個人情報を販売したり第三者に提供したりすることはありません。"
     "メールアドレスをウェブサイトに表示することもありません。"),
    ("**開示と削除。** ご寄付と領収書は「ご寄付の記録」でご確認いただけます。"
     "お問い合わせページからご連絡いただければ、お預かりしている情報をすべてお送りするか、"
     "お名前とメールアドレスを削除いたします。"
     "金額は会計の記録として残りますが、お名前とは結びつかなくなります。"),
)) + "\n"

CONTACT_EN = """\
Questions about a case, a gift or a receipt? Write to us with the form below and a volunteer
will reply by email, usually within a few days.
"""

CONTACT_JA = "\n\n".join((
    ("案件、ご寄付、領収書についてのご質問は、下のフォームからお寄せください。"
     "ボランティアが通常数日以内にメールでお返事いたします。"),
)) + "\n"


def seed_organization() -> bool:
    """Give the demo its organization and pages, once (False: an identity is already set)."""
    if not current_identity().is_default:
        return False
    services.update_identity(IDENTITY)
    services.update_page("about", {"en": ABOUT_EN, "ja": ABOUT_JA})
    services.update_page("privacy", {"en": PRIVACY_EN, "ja": PRIVACY_JA})
    services.update_page("contact", {"en": CONTACT_EN, "ja": CONTACT_JA})
    return True
