"""Forms sent before their page is ready, in a real browser: every page first loads its language (and the user), and
only then is it whole. A user who types fast, or a slow server, can submit a form in that moment. The login must
still log in, and no form may fall through to the browser's own GET submit, which would put its fields (a password
among them) in the URL, the history and the server's access log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote_plus

import pytest
from dashboard_support import PASSWORD, TIMEOUT_MS, Served, logged_in

pytestmark = pytest.mark.browser

LANGUAGE_FILES = "**/static/i18n/*.json"


@contextmanager
def language_held(context: Any) -> Iterator[None]:
    """The language files are not answered inside the block: every page's start waits for them there."""
    from playwright.sync_api import Error

    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    context.route(LANGUAGE_FILES, hold)
    try:
        yield
    finally:
        context.unroute(LANGUAGE_FILES, hold)
        for route in held:
            with suppress(Error):  # a request of a page already left is gone
                route.continue_()


def urls_requested(page: Any) -> list[str]:
    """Every URL the page requests from now on, decoded as a form's query would be."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(unquote_plus(request.url)))
    return urls


def test_a_login_sent_while_the_language_loads_logs_in_and_keeps_the_password_out_of_urls(
    browser: Any, served: Served
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    urls = urls_requested(page)
    with language_held(context):
        page.goto(served.url + "/login")
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(served.url + "/", timeout=TIMEOUT_MS)  # logged in, though the page was not yet whole
    page.wait_for_function("document.querySelectorAll('.tile').length === 2", timeout=TIMEOUT_MS)
    assert [url for url in urls if PASSWORD in url] == []
    context.close()


def test_an_admin_form_sent_before_the_page_is_ready_sends_nothing_and_leaks_nothing(
    browser: Any, served: Served
) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    urls = urls_requested(page)
    secret = "early secret 12345"
    with language_held(page.context):
        page.goto(served.url + "/admin")
        page.fill("#user-form [name=username]", "early")
        page.fill("#user-form [name=display_name]", "Too early")
        page.fill("#user-form [name=password]", secret)
        page.click("#user-form button[type=submit]")
        page.wait_for_timeout(300)  # time for a browser's own submit to leave
    page.wait_for_function("document.querySelectorAll('#users tbody tr').length >= 4", timeout=TIMEOUT_MS)
    assert [url for url in urls if secret in url] == []
    assert page.url == served.url + "/admin"
    assert page.errors == []
    page.context.close()
