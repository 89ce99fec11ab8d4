"""Signing in and out of the web tab, the session cookie, CSRF, the bot picker,
and what a viewer sees — through the page, as a person would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest_asyncio
from playwright.async_api import Page, expect

from plugin.access.keys import hash_key
from plugin.access.store import KeyStore
from plugin.audience.bot_store import BotStore
from plugin.core.events import utc_now
from plugin.db.database import Database
from tests.web.conftest import (
    WEB_ADMIN_KEY,
    WebServer,
    check_accessibility,
    new_key,
    screenshot,
    sign_in,
)
from tests.web.seeding import XSS_NAME, new_bot_id, seed_users


@pytest_asyncio.fixture(scope="module")
async def bots(db: Database) -> tuple[str, str]:
    shop, other = new_bot_id("shop"), new_bot_id("other")
    await seed_users(db, shop, {"ann": {"messages": 2}, "bob": {}})
    await seed_users(db, other, {"cy": {}})
    await BotStore.of(db).name_bot(shop, "The shop bot")
    await BotStore.of(db).name_bot(other, XSS_NAME)
    return shop, other


async def test_sign_in_lists_the_bots_and_sign_out_ends_the_session(
        page: Page, web_server: WebServer, bots: tuple[str, str]) -> None:
    shop = bots[0]
    await page.goto(web_server.url + "/")
    await expect(page.get_by_role("heading", name="Sign in to Audience")).to_be_visible()
    await check_accessibility(page)
    await screenshot(page, "sign-in")

    await sign_in(page, web_server)
    assert page.url == web_server.url + "/bots"
    shop_link = page.get_by_role("link", name="The shop bot")
    await expect(shop_link).to_have_attribute("href", f"/bots/{shop}/audience")
    shop_row = page.get_by_role("row").filter(has=shop_link)
    await expect(shop_row.get_by_role("cell").nth(1)).to_have_text("2")
    # A bot's name is text, whatever it holds.
    await expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    assert await page.locator("img").count() == 0
    await check_accessibility(page)
    await screenshot(page, "bots")

    cookie = next(c for c in await page.context.cookies() if c["name"] == "audience_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    lifetime = cookie["expires"] - datetime.now(UTC).timestamp()
    assert 7 * 3600 < lifetime <= 8 * 3600
    assert WEB_ADMIN_KEY not in await page.content()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    # The old cookie, put back by hand, opens nothing: the session is gone on the server.
    await page.context.add_cookies([cookie])  # type: ignore[list-item]
    await page.goto(web_server.url + "/bots")
    await expect(page.get_by_label("API key")).to_be_visible()


async def test_a_wrong_key_is_refused_with_an_alert(page: Page, web_server: WebServer) -> None:
    await sign_in_expecting_failure(page, web_server, "aud_not-a-real-key")
    await expect(page.get_by_role("alert")).to_contain_text("unknown or revoked API key")
    assert not [c for c in await page.context.cookies() if c["name"] == "audience_session"]
    await check_accessibility(page)


async def sign_in_expecting_failure(page: Page, server: WebServer, key: str) -> None:
    await page.goto(server.url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def test_pages_need_a_session(page: Page, web_server: WebServer,
                                    bots: tuple[str, str]) -> None:
    await page.goto(f"{web_server.url}/bots")
    assert page.url == web_server.url + "/"
    await expect(page.get_by_label("API key")).to_be_visible()


async def test_every_page_sends_a_csp_without_inline_script_and_no_framing(
        page: Page, web_server: WebServer) -> None:
    response = await page.goto(web_server.url + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert await page.locator("script:not([src])").count() == 0
    assert await page.locator("[onclick], [onload], [onerror]").count() == 0


async def test_a_state_change_without_the_csrf_token_is_refused(
        page: Page, web_server: WebServer, bots: tuple[str, str]) -> None:
    await sign_in(page, web_server)
    # Same cookies as the page, but no token: as a forged form on another site would send.
    refused = await page.request.post(web_server.url + "/signout",
                                      form={"csrf": "not-the-token"}, max_redirects=0)
    assert refused.status == 403
    assert "CSRF" in await refused.text()
    await page.goto(web_server.url + "/bots")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def test_a_sign_in_form_from_elsewhere_is_refused(page: Page,
                                                        web_server: WebServer) -> None:
    # Login CSRF: a form posted without the sign-in page's token opens no session.
    refused = await page.request.post(web_server.url + "/", form={"api_key": WEB_ADMIN_KEY},
                                      max_redirects=0)
    assert refused.status == 403
    assert not [c for c in await page.context.cookies() if c["name"] == "audience_session"]


async def test_a_viewer_sees_only_its_bots_and_its_role(
        page: Page, web_server: WebServer, db: Database, bots: tuple[str, str]) -> None:
    shop, other = bots
    key = await new_key(db, "viewer", shop)
    await sign_in(page, web_server, key)
    await expect(page.get_by_text("Signed in as viewer")).to_be_visible()
    await expect(page.get_by_role("link", name="The shop bot")).to_be_visible()
    await expect(page.get_by_role("link", name=XSS_NAME)).to_have_count(0)
    # Another bot's pages answer as if it did not exist.
    response = await page.goto(f"{web_server.url}/bots/{other}/audience")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await check_accessibility(page)


async def test_revoking_the_key_ends_its_sessions(page: Page, web_server: WebServer,
                                                 db: Database, bots: tuple[str, str]) -> None:
    key = await new_key(db, "editor", bots[0])
    await sign_in(page, web_server, key)
    await KeyStore.of(db).revoke(hash_key(key), utc_now())
    await page.goto(web_server.url + "/bots")
    await expect(page.get_by_label("API key")).to_be_visible()
