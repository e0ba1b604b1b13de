"""The web console in a real Chromium, as the people who use it would: a marketer
creates a campaign from the form (and is told what is wrong first), launches it,
grants vouchers from a CSV file and reads the figures; a subscriber claims an
offer; a cashier on a 360 px phone looks up a mistyped code (warned before any
request), then the right one, redeems and reverses; and the wallet follows each
step. Every control on every view has an accessible name, the page keeps its
strict Content-Security-Policy, and the sign-in works with OpenID Connect + PKCE.

Against `make run`'s server (tests/web/browser.py); one browser for the session.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from web.browser import FakeIdp, People, snap

pytestmark = [pytest.mark.xdist_group("web")]

PHONE = 360
DEMO_OFFER = "Free coffee for loyal subscribers"
DEMO_VOUCHER = "One free iced coffee"
# roles of the controls a person operates: each must have a name
_CONTROL = re.compile(
    r"^\s*- (button|link|textbox|combobox|checkbox|radio|spinbutton|slider|searchbox|switch|tab)\b(.*)$"
)


def assert_every_control_named(page: Page, view: str) -> None:
    """Every control in the accessibility tree has an accessible name (the ARIA
    snapshot writes it in quotes after the role), and there are controls."""
    snapshot = page.locator("body").aria_snapshot()
    controls = [m for line in snapshot.splitlines() if (m := _CONTROL.match(line))]
    unnamed = [m.group(0).strip() for m in controls if not m.group(2).startswith(' "')]
    assert controls, f"{view}: no controls in\n{snapshot}"
    assert not unnamed, f"{view}: controls without an accessible name: {unnamed}\n{snapshot}"


def assert_fits(page: Page, width: int, view: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{view} is {overflow} px wide on a {width} px screen"


def english(page: Page) -> None:
    """The console opens in Vietnamese; switch to English (the contract's labels)."""
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def dev_sign_in(page: Page, role: str, subject: str) -> None:
    page.get_by_label("Role").select_option(role)
    page.get_by_label("Who (a phone number").fill(subject)
    page.get_by_role("button", name="Sign in", exact=True).click()


def error_beside(page: Page, label: str) -> Any:
    """The error message that stands beside the field labelled `label`."""
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".field-error")


def requests_to(page: Page, pattern: str, method: str = "GET") -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.method == method and re.search(pattern, r.url) else None)
    return seen


def test_a_marketer_creates_launches_and_grants_from_a_csv(people: People, console_server: Any) -> None:
    ids = console_server.ids
    page = people.page()
    page.goto("/")
    assert_every_control_named(page, "sign-in (Vietnamese)")
    english(page)
    dev_sign_in(page, "marketer", "mkt-web")
    expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=DEMO_OFFER)).to_be_visible()
    assert_every_control_named(page, "campaigns")
    snap(page, "marketer-1-campaigns")

    page.get_by_role("link", name="New campaign").click()
    posts = requests_to(page, r"/v1/campaigns$", "POST")
    # an empty form: told beside each field, and nothing is sent
    page.get_by_role("button", name="Create draft").click()
    expect(error_beside(page, "Campaign name")).to_have_text("Required.")
    expect(error_beside(page, "Partner ID")).to_have_text("Required.")
    expect(page.get_by_label("Campaign name", exact=True)).to_be_focused()
    expect(page.get_by_label("Campaign name", exact=True)).to_have_attribute("aria-invalid", "true")
    assert posts == []
    assert_every_control_named(page, "campaign form with errors")
    snap(page, "marketer-2-form-errors")

    page.get_by_label("Campaign name", exact=True).fill("Tết coffee week")
    page.get_by_label("Partner ID").fill("p_no_such_partner")
    page.get_by_label("Voucher title").fill("Cà phê sữa đá")
    page.get_by_label("Value (VND)").fill("35000")
    page.get_by_label("Price (points)").fill("1500")
    page.get_by_label("Vouchers in stock").fill("50")
    page.get_by_role("button", name="Create draft").click()
    # what only the server knows comes back beside the field it is about
    expect(error_beside(page, "Partner ID")).to_contain_text("does not name a partner")
    expect(error_beside(page, "Campaign name")).to_have_count(0)
    assert len(posts) == 1
    snap(page, "marketer-3-server-error")

    page.get_by_label("Partner ID").fill(ids["partner_id"])
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", name="Tết coffee week", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="created")).to_be_visible()
    expect(page.locator(".title-row .badge")).to_have_text("Draft")

    # launch, after a confirmation (cancelled once: nothing changes)
    page.get_by_role("button", name="Launch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Launch “Tết coffee week”?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".title-row .badge")).to_have_text("Draft")
    page.get_by_role("button", name="Launch").click()
    dialog.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("status").filter(has_text="is active")).to_be_visible()
    expect(page.locator(".title-row .badge")).to_have_text("Active")

    # grant from a file: a header, a repeat, a bad row and a number that is no subscriber
    rows = ["msisdn", "0961234567", "84971112233", "+84 96 123 4567", "not-a-number", "0912345678"]
    page.get_by_label("CSV file of phone numbers").set_input_files(
        {"name": "grants.csv", "mimeType": "text/csv", "buffer": ("\n".join(rows) + "\n").encode()}
    )
    expect(page.get_by_text("3 numbers read (1 repeated, skipped).")).to_be_visible()
    expect(page.get_by_text("Line 5: “not-a-number” is not a phone number.")).to_be_visible()
    page.get_by_role("button", name="Grant", exact=True).click()
    expect(page.get_by_text("2 issued, 1 refused.")).to_be_visible()
    expect(page.get_by_label("Granting: 3 of 3")).to_have_attribute("value", "3")
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("row")).to_have_count(4)
    expect(results.get_by_role("row", name=re.compile("84912345678"))).to_contain_text("Not a subscriber (NOT_FOUND)")
    expect(results.get_by_role("row", name=re.compile("84961234567"))).to_contain_text("Issued")

    # the figures follow: stats and today's point of the chart
    expect(page.locator(".stats div", has_text="Issued").locator("dd")).to_have_text("2")
    expect(page.locator("figure.chart desc")).to_contain_text("2 issued, 0 redeemed, 0 reversed")
    expect(page.get_by_role("img", name=re.compile(r"^Per day From"))).to_be_visible()
    assert_every_control_named(page, "campaign detail after the grant")
    snap(page, "marketer-4-detail-after-grant")

    # the list by status, with live stats
    page.get_by_role("link", name="Back to campaigns").click()
    page.get_by_label("Status").select_option("active")
    row = page.get_by_role("row", name=re.compile("Tết coffee week"))
    expect(row).to_contain_text("Active")
    expect(row.get_by_role("cell").nth(1)).to_have_text("2")
    people.assert_clean()


def _balance(page: Page) -> int:
    return int(re.sub(r"\D", "", page.get_by_test_id("balance").inner_text()))


def _voucher(page: Page, code: str) -> Any:
    return page.locator("li.voucher", has=page.get_by_text(code, exact=True))


def test_claim_look_up_a_typo_then_redeem_and_reverse_and_the_wallet_follows(
    people: People, console_server: Any
) -> None:
    ids = console_server.ids
    wallet = people.page(PHONE, 780)
    wallet.goto("/")
    english(wallet)
    dev_sign_in(wallet, "subscriber", "0961234567")
    expect(wallet.get_by_role("heading", name="My wallet")).to_be_visible()
    expect(wallet.get_by_text(re.compile(r"rank points to|top tier"))).to_be_visible()
    before = _balance(wallet)
    wallet.get_by_role("button", name=re.compile(f"^Claim {DEMO_OFFER}")).click()
    claimed = wallet.get_by_role("status").filter(has_text="You got")
    expect(claimed).to_contain_text(DEMO_VOUCHER)
    code = re.search(r"code (\S+)\.", claimed.inner_text()).group(1)
    expect(wallet.get_by_test_id("balance")).not_to_have_text(re.compile(f"^{before:,} "))
    assert _balance(wallet) == before - 2_000
    mine = _voucher(wallet, code)
    expect(mine).to_contain_text("Valid")
    expect(mine.get_by_role("img", name=f"QR code of voucher {code}")).to_be_visible()
    assert_every_control_named(wallet, "wallet")
    assert_fits(wallet, PHONE, "the wallet")
    snap(wallet, "wallet-1-claimed")

    till = people.page(PHONE, 780)
    till.goto("/")
    english(till)
    till.get_by_label("Partner API key").fill(ids["api_key"])
    till.get_by_role("button", name="Open the till").click()
    expect(till.get_by_role("heading", name="Till", level=1)).to_be_visible()
    lookups = requests_to(till, r"/v1/vouchers/")

    # one symbol changed: the check character catches it before any look-up
    typo = code[:2] + ("7" if code[2] != "7" else "8") + code[3:]
    till.get_by_label("Voucher code").fill(typo)
    warning = error_beside(till, "Voucher code")
    expect(warning).to_contain_text("looks mistyped")
    till.get_by_role("button", name="Look up").click()
    expect(warning).to_contain_text("looks mistyped")
    assert lookups == [], "a mistyped code was looked up"
    snap(till, "till-1-typo-warning")

    # the right code, looked up with the keyboard (Enter in the field)
    till.get_by_label("Voucher code").fill(code.lower().replace("-", " "))
    expect(warning).to_have_count(0)
    till.get_by_label("Voucher code").press("Enter")
    card = till.locator(".voucher-card")
    expect(card).to_contain_text(DEMO_VOUCHER)
    expect(card).to_contain_text("Valid")
    assert len(lookups) == 1
    assert_every_control_named(till, "till with a voucher")
    assert_fits(till, PHONE, "the till")

    till.get_by_label("Order reference").fill("POS-42")
    till.get_by_role("button", name="Redeem").click()
    expect(till.get_by_role("status").filter(has_text="Redeemed")).to_contain_text("for order POS-42")
    expect(card).to_contain_text("Already used")
    snap(till, "till-2-redeemed")

    wallet.reload()
    expect(_voucher(wallet, code)).to_contain_text("Already used")
    expect(_voucher(wallet, code).get_by_role("img")).to_have_count(0)

    reverse = till.get_by_role("button", name=f"Reverse the redemption of {code}")
    reverse.click()
    till.get_by_role("dialog").get_by_role("button", name="Reverse").click()
    expect(till.get_by_role("status").filter(has_text="Reversed")).to_contain_text("The voucher is now: Valid")
    expect(till.locator("table tr.reversed", has_text="POS-42")).to_contain_text("reversed")
    snap(till, "till-3-reversed")

    wallet.reload()
    expect(_voucher(wallet, code)).to_contain_text("Valid")
    expect(_voucher(wallet, code).get_by_role("img", name=f"QR code of voucher {code}")).to_be_visible()
    snap(wallet, "wallet-2-after-reversal")

    # today's redemptions as a CSV file
    with till.expect_download() as download:
        till.get_by_role("button", name="Download CSV").click()
    saved = download.value.path().read_text()
    assert saved.splitlines()[0] == "redemption_id,code,order_ref,store_id,redeemed_at,reversed_at"
    assert any(code in line and "POS-42" in line for line in saved.splitlines()[1:])
    assert_fits(till, PHONE, "the till after the day's work")
    people.assert_clean()


def test_sign_in_with_openid_connect_and_pkce(people: People, idp: FakeIdp) -> None:
    page = people.page()
    page.goto("/")
    english(page)
    page.get_by_role("button", name="Sign in with your account").click()
    expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
    assert idp.exchanges and idp.exchanges[-1] == {"verified": True, "grant_type": "authorization_code"}
    assert "code=" not in page.url and "state=" not in page.url
    expect(page.get_by_text("Signed in as oidc-alice (Marketer)")).to_be_visible()
    stored = page.evaluate("({session: sessionStorage.getItem('diem.session'), local: localStorage.length})")
    assert stored["local"] == 0 and idp.id_token().split(".")[0] in stored["session"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('diem.session')") is None
    people.assert_clean()


def test_the_console_keeps_a_strict_content_security_policy(people: People, console_server: Any) -> None:
    page = people.page()
    response = page.goto("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy and response.headers["referrer-policy"] == "no-referrer"
    # nothing inline for the policy to refuse: every script is a file, no style attribute anywhere
    inline = page.evaluate(
        "({scripts: [...document.scripts].filter(s => !s.src).length,"
        " styled: document.querySelectorAll('[style]').length})"
    )
    assert inline == {"scripts": 0, "styled": 0}
    # in Vietnamese, as the console opens: a gold subscriber on the way to diamond
    page.get_by_label("Vai trò").select_option("subscriber")
    page.get_by_label("Bạn là ai").fill("0971112233")
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    expect(page.get_by_role("heading", name="Ví của tôi")).to_be_visible()
    progress = page.get_by_role("progressbar", name=re.compile(r"^Còn [\d.]+ điểm hạng để lên hạng Kim cương$"))
    expect(progress).to_be_visible()
    assert 0 < float(progress.get_attribute("value")) < float(progress.get_attribute("max"))
    expect(page.get_by_role("button", name=re.compile("^Đổi điểm: ")).first).to_be_visible()
    assert page.evaluate("document.querySelectorAll('[style]').length") == 0
    assert_every_control_named(page, "wallet (Vietnamese)")
    snap(page, "wallet-3-vietnamese")
    people.assert_clean()
