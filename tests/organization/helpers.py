"""Shared values for the organization's tests."""

from __future__ import annotations

from tests.conftest import csrf_from

IDENTITY = {
    "name_en": "Hikari Bridge",
    "name_ja": "ひかりの橋",
    "legal_name_en": "Certified NPO Hikari Bridge",
    "legal_name_ja": "認定特定非営利活動法人ひかりの橋",
    "representative_en": "Director Aoi Tanaka",
    "representative_ja": "代表理事　田中葵",
    "postal_code": "1510053",
    "address_en": "2-11-3 Yoyogi, Shibuya-ku, Tokyo",
    "address_ja": "東京都渋谷区代々木2-11-3",
    "corporate_number": "5011005001234",
    "certified": "y",
    "certified_on": "2021-04-01",
    "certifying_authority_en": "Tokyo Metropolitan Government",
    "certifying_authority_ja": "東京都",
    "contact_email": "office@hikari-bridge.example",
    "sender_email": "news@hikari-bridge.example",
}


def save_identity(client, **changes):  # noqa: ANN001, ANN003, ANN201
    """POST the identity form as an admin would (``changes`` on top of IDENTITY)."""
    page = client.get("/staff/organization")
    assert page.status_code == 200
    data = {**IDENTITY, **changes, "csrf_token": csrf_from(page.text)}
    return client.post("/staff/organization", data={k: v for k, v in data.items() if v is not None},
                       content_type="multipart/form-data")


def save_page(client, slug: str, english: str = "", japanese: str = ""):  # noqa: ANN001, ANN201
    page = client.get(f"/staff/organization/pages/{slug}")
    assert page.status_code == 200
    return client.post(f"/staff/organization/pages/{slug}", data={
        "body_en": english, "body_ja": japanese, "csrf_token": csrf_from(page.text)})
