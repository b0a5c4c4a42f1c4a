"""The web app in a real browser (Debian's Chromium + ChromeDriver over loopback): pages, links, and proof that a
hostile message makes no request outside the app. Saves the screenshots of the docs (docs/img/web-*.png)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from conftest import CHROMIUM_FLAGS, chromedriver, chromium
from test_web import REMOTE, build_case, find, hostile_id

from leaksift.web import create_app

DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
MAX_SCREENSHOT = 300_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tracker(http.server.BaseHTTPRequestHandler):
    """A "remote" server on loopback, at another origin: a leaked message's pixel must never reach it."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        Tracker.hits.append(self.path)
        page = self.path.endswith(".html")
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if page else "image/gif")
        self.end_headers()
        self.wfile.write(b'<img src="/control.gif">' if page else b"GIF89a")

    def log_message(self, *args: object) -> None:
        pass


def tracker_eml(port: int) -> bytes:
    html = (f'<p>Loopback-pixel-marker</p><img src="http://127.0.0.1:{port}/pixel.gif?u=7" width="1" height="1">'
            f'<img src="http://localhost:{port}/logo.png"><table background="http://127.0.0.1:{port}/bg.png">'
            f'<tr><td>cell</td></tr></table>')
    return ("From: Pixel <pixel@tracker.example>\r\nTo: marc.aubert@campaign.example\r\nSubject: Loopback pixel\r\n"
            "Date: Tue, 04 Apr 2017 10:00:00 +0200\r\nMessage-ID: <pixel-2@tracker.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()


@pytest.fixture(scope="module")
def tracker() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, tracker: int) -> Path:
    chromium(), chromedriver()  # skip before the work when the browser is absent
    return build_case(tmp_path_factory.mktemp("webb"), {"loopback.eml": tracker_eml(tracker)})


@pytest.fixture(scope="module")
def server(case: Path) -> Iterator[str]:
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(str(case)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver()), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def requested(driver) -> list[str]:  # noqa: ANN001 - a selenium WebDriver
    """Every URL the browser asked for since the last call, from Chrome's DevTools performance log."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def outside(urls: list[str], base: str) -> list[str]:
    return [u for u in urls if not (u.startswith(base + "/") or u.startswith(("data:", "about:")))]


def wait_url(driver, part: str) -> None:  # noqa: ANN001
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(expected_conditions.url_contains(part))


def shot(driver, name: str) -> None:  # noqa: ANN001
    """A screenshot, checked for size; it replaces the README's copy in docs/img only where LEAKSIFT_DOCS_PNG is
    set, so that a test run leaves the checkout as it was."""
    folder = DOCS_IMG if os.environ.get("LEAKSIFT_DOCS_PNG") else Path(tempfile.gettempdir()) / "leaksift-shots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    assert 0 < path.stat().st_size < MAX_SCREENSHOT, (name, path.stat().st_size)


def test_overview_search_item_thread(browser, server: str, case: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    assert "Case overview" in browser.find_element(By.TAG_NAME, "h1").text
    verdicts = browser.find_element(By.ID, "by-verdict").text
    assert "tampered" in verdicts and "verified" in verdicts
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline svg g.bar")
    shot(browser, "web-overview.png")

    box = browser.find_element(By.CSS_SELECTOR, "header form input[name=q]")
    box.send_keys("budget")
    box.submit()
    wait_url(browser, "/search?q=budget")
    count = browser.find_element(By.ID, "count").text
    assert int(count.split()[0]) > 25
    marks = browser.find_elements(By.CSS_SELECTOR, "li.hit mark")
    assert marks and all(m.text.lower() == "budget" for m in marks)
    browser.find_element(By.NAME, "verdict").send_keys("verified")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_url(browser, "verdict=verified")
    badges = {b.text for b in browser.find_elements(By.CSS_SELECTOR, "li.hit .verdict")}
    assert badges == {"verified"}
    shot(browser, "web-search.png")

    browser.get(server + "/")
    flagged = browser.find_element(By.CSS_SELECTOR, "#flagged table.list a")
    title = flagged.text
    flagged.click()
    wait_url(browser, "/item/")
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    assert browser.find_element(By.CSS_SELECTOR, "p .verdict").text in ("tampered", "suspicious")
    assert browser.find_elements(By.CSS_SELECTOR, "#findings .effect-contradicts")
    assert "covered headers" in browser.find_element(By.ID, "dkim").text
    shot(browser, "web-item.png")
    item_url = browser.current_url

    browser.find_element(By.ID, "thread-link").click()
    wait_url(browser, "/thread")
    assert browser.current_url == item_url + "/thread"
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Thread of")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.thread tr.current")
    assert len(rows) == 1 and title in rows[0].text


def test_hostile_message_makes_no_request_outside_the_app(browser, server: str, case: Path,  # noqa: ANN001
                                                           tracker: int) -> None:
    from selenium.webdriver.common.by import By

    requested(browser)  # drop what earlier pages logged
    Tracker.hits.clear()
    for hid in (hostile_id(case), find(case, sender="pixel@tracker.example")[0]["id"]):
        browser.get(f"{server}/item/{hid}")
        blocked = browser.find_element(By.ID, "blocked").text
        assert "never fetched" in blocked
        frame = browser.find_element(By.CSS_SELECTOR, "iframe.body")
        browser.switch_to.frame(frame)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "Zanzibar-marker" in text or "Loopback-pixel-marker" in text
        assert browser.find_elements(By.CSS_SELECTOR, "script, iframe, link") == []
        browser.switch_to.default_content()
    # the raw HTML page too, with its sandbox CSP, opened directly
    browser.get(f"{server}/item/{hostile_id(case)}/body")
    time.sleep(0.5)
    urls = requested(browser)
    assert any(u.endswith("/body") for u in urls)
    assert outside(urls, server) == []
    assert not any(host in u for u in urls for host in REMOTE)
    assert Tracker.hits == []
    # Control: the same log and tracker do see a page outside the app that loads a pixel.
    browser.get(f"http://127.0.0.1:{tracker}/control.html")
    time.sleep(0.5)
    assert f"http://127.0.0.1:{tracker}/control.gif" in requested(browser)
    assert {"/control.html", "/control.gif"} <= set(Tracker.hits)
