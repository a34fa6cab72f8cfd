"""Real headless Chromium for tests and benches: its flags, signing in on the `/signin` form, waiting for a page run.

Playwright drives Debian's `/usr/bin/chromium` (`scripts/setup.sh test` installs it), with its background
networking off so the browser asks nothing of the outside either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse

from servers import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SIGNIN_PATH = "/signin"
PASSWORD_PATH = "/password"


def idle(page, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Waits until the app's script has finished its run."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_timeout(300)


def submit_sign_in(page, url: str, name: str, password: str, next_path: str | None = None):  # type: ignore[no-untyped-def]
    """Opens `/signin`, fills name and password, submits; returns the response of the form's POST."""
    target = f"{url}{SIGNIN_PATH}" + (f"?next={quote(next_path, safe='/')}" if next_path else "")
    page.goto(target)
    page.locator("input[name='name']").fill(name)
    page.locator("input[name='password']").fill(password)
    with page.expect_response(lambda r: urlparse(r.url).path == SIGNIN_PATH and r.request.method == "POST") as posted:
        page.locator("input[name='password']").press("Enter")
    page.wait_for_load_state()
    return posted.value


def sign_in(page, url: str, name: str, password: str = PASSWORD, next_path: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Signs in on the `/signin` form and waits until the app's first page is drawn (its script has run)."""
    submit_sign_in(page, url, name, password, next_path)
    page.wait_for_url(lambda u: urlparse(u).path not in (SIGNIN_PATH, PASSWORD_PATH), timeout=15_000)
    idle(page)


def sign_out(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/signout")
    page.wait_for_url(lambda u: urlparse(u).path == SIGNIN_PATH, timeout=15_000)


def new_context(browser):  # type: ignore[no-untyped-def]
    """A fresh browser context: its own cookies, so its own sign-in."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(30_000)
    return context


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1200)  # charts and media are drawn after the script run ends
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@contextmanager
def shots_on_failure(browser, name: str) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """On an exception, saves every open page of `browser` under test-artifacts/screenshots/`name`-N.png."""
    try:
        yield
    except BaseException:
        SHOTS.mkdir(parents=True, exist_ok=True)
        pages = [page for context in browser.contexts for page in context.pages]
        for i, page in enumerate(pages):
            try:
                page.screenshot(path=str(SHOTS / f"{name}-{i}.png"), full_page=True, timeout=5000)
                print(f"screenshot of {page.url}: {SHOTS / f'{name}-{i}.png'}")
            except Exception as e:  # a help for reading the failure, never a failure of its own
                print(f"no screenshot of {page.url}: {e}")
        raise


def choose(page, scope, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Picks `option` in the selectbox labelled `label` inside `scope`."""
    scope.get_by_role("combobox", name=label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    idle(page)
