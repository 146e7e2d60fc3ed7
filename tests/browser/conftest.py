"""Real-browser tests: Debian's chromium driven by Playwright against pytest-django's live_server,
with the SA sandbox (a real HTTP subprocess) playing JD."""

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in the test thread; Django's ORM would then refuse
# synchronous queries from it (SynchronousOnlyOperation). The usual setting for Playwright + Django.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"浏览器测试需要 Debian 的 chromium（{CHROMIUM} 不存在）")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


# Every frame reports what the Content-Security-Policy refused (core/security.py): a page that works
# only in part under the policy fails its test instead of passing with a silently blocked script.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__reportCspViolation({directive: e.effectiveDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample, page: document.location.href});
}, true);
"""


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 900})
    context.set_default_timeout(10_000)
    violations = []
    context.expose_binding("__reportCspViolation", lambda source, v: violations.append(v))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.base_url = live_server.url
    page.csp_violations = violations
    yield page
    context.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"


def login(page, username, password, next_url="/admin/refunds/rawrefund/"):
    """Through the real login form (the theme's), landing on `next_url` (the raw refund slip list)."""
    page.goto(f"{page.base_url}/admin/login/?next={next_url}")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form .login-btn button")
    page.wait_for_url(f"**{next_url}")
