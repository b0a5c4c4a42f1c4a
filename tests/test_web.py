"""The web app through FastAPI's test client, on the sample leak plus one hostile HTML message."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leaksift.cli import app as cli
from leaksift.sample import build_sample
from leaksift.store import open_store
from leaksift.web import create_app

REMOTE = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6"]
HOSTILE_SUBJECT = '<script>alert("subject")</script> Remote pixel'

HOSTILE_HTML = """<html><head><link rel="stylesheet" href="http://203.0.113.4/s.css">
<style>body { background: url(http://203.0.113.3/bg.png) }</style>
<script src="http://203.0.113.5/x.js"></script></head>
<body onload="alert(1)"><p>Quarterly <b>numbers</b> attached. Zanzibar-marker.</p>
<img src="http://203.0.113.1/x.png" alt="logo">
<img src="https://203.0.113.2/pixel.gif?uid=42" width="1" height="1">
<div style="background-image:url('http://203.0.113.3/bg2.png')">styled</div>
<iframe src="http://203.0.113.6/frame"></iframe>
<a href="http://203.0.113.6/click" onclick="x()">click</a>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline">
</body></html>"""


def hostile_eml() -> bytes:
    boundary = "b0undary"
    head = (f"From: Tracker <news@tracker.example>\r\nTo: Marc Aubert <marc.aubert@campaign.example>\r\n"
            f"Subject: {HOSTILE_SUBJECT}\r\nDate: Mon, 03 Apr 2017 10:00:00 +0200\r\n"
            f"Message-ID: <pixel-1@tracker.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n")
    parts = [
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{HOSTILE_HTML}\r\n",
        f"--{boundary}\r\nContent-Type: text/html; name=\"evil.html\"\r\n"
        f"Content-Disposition: attachment; filename=\"evil.html\"\r\n\r\n"
        f"<script>alert('attachment')</script><img src=\"http://203.0.113.1/a.png\">\r\n",
        f"--{boundary}--\r\n",
    ]
    return (head + "".join(parts)).encode()


def build_case(base: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The sample leak with its keys, plus a hostile HTML message (and any extra files), scanned for real."""
    build_sample(base / "leak", keys_out=base / "keys.zone")
    (base / "leak" / "hostile").mkdir()
    (base / "leak" / "hostile" / "pixel.eml").write_bytes(hostile_eml())
    for name, data in (extra or {}).items():
        (base / "leak" / "hostile" / name).write_bytes(data)
    db = base / "case.db"
    result = CliRunner().invoke(cli, ["scan", str(base / "leak"), "--db", str(db), "--keys", str(base / "keys.zone"),
                                      "--leaked-at", "2017-05-05T22:00:00+02:00", "-j", "2", "-q"])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_case(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(case: Path) -> TestClient:
    with TestClient(create_app(str(case))) as c:
        yield c


def ids(html: str) -> list[str]:
    return re.findall(r'href="/item/([0-9a-f]+)"', html)


def find(case: Path, **filters: str) -> list[dict]:
    store = open_store(case)
    try:
        return store.search_page("", limit=500, **filters)[1]
    finally:
        store.close()


def hostile_id(case: Path) -> str:
    return find(case, sender="news@tracker.example")[0]["id"]


def test_every_response_forbids_remote_loads(client: TestClient) -> None:
    for url in ("/", "/search?q=budget", "/static/style.css", "/item/nope"):
        r = client.get(url)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp and "img-src 'self' data:" in csp
        assert "http" not in csp and "*" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_overview_counts_and_flagged(client: TestClient, case: Path) -> None:
    r = client.get("/")
    assert r.status_code == 200
    store = open_store(case)
    try:
        summary = store.summary()
    finally:
        store.close()
    by_verdict = r.text.split('id="by-verdict"')[1].split("</table>")[0]
    for verdict, n in summary.by_verdict.items():
        assert re.search(rf"v-{verdict}\">{verdict}</span></a></td><td class=\"num\">{n}<", by_verdict)
    timeline = r.text.split('id="timeline"')[1].split("</section>")[0]
    assert "<svg" in timeline and '<g class="bar" data-label="2017-' in timeline
    senders = r.text.split('id="senders"')[1].split("</table>")[0]
    assert '<a href="/sender/thomas.leroy%40campaign.example">Thomas Leroy</a></td><td class="num">16<' in senders
    assert "campaign.example" in r.text.split('id="domains"')[1]
    flagged = r.text.split('id="flagged"')[1]
    tampered = {h["id"] for h in find(case, verdict="tampered")}
    assert tampered and tampered <= set(ids(flagged))
    assert "was added after campaign.example signed it" in flagged


def test_search_words_filters_highlight_and_paging(client: TestClient, case: Path) -> None:
    r = client.get("/search", params={"q": "budget", "kind": "email", "sort": "-date"})
    assert r.status_code == 200
    total = int(re.search(r"(\d+) results?", r.text).group(1))
    assert total > 25  # more than one page
    assert "<mark>budget</mark>" in r.text.lower() or "<mark>Budget</mark>" in r.text
    page1 = ids(r.text.split('<ol class="hits"')[1])
    dates = re.findall(r'<span class="date">([^<]+)</span>', r.text)
    assert dates == sorted(dates, reverse=True) and len(page1) == 25
    assert 'rel="next"' in r.text and "page=2" in r.text
    r2 = client.get("/search", params={"q": "budget", "kind": "email", "sort": "-date", "page": 2})
    page2 = ids(r2.text.split('<ol class="hits"')[1])
    assert page2 and not set(page1) & set(page2)
    # filters narrow: verdict, sender, domain, folder, date range
    r = client.get("/search?verdict=tampered")
    assert set(ids(r.text.split('<ol class="hits"')[1])) == {h["id"] for h in find(case, verdict="tampered")}
    assert 'v-verified' not in r.text.split('<ol class="hits"')[1]
    r = client.get("/search?sender=marc.aubert@campaign.example&date_from=2017-03-01&date_to=2017-03-31")
    hits = r.text.split('<ol class="hits"')[1]
    assert ids(hits) and all("2017-03" in d for d in re.findall(r'<span class="date">([^<]+)</span>', hits))
    assert int(re.search(r"(\d+) results?", r.text).group(1)) < len(find(case, sender="marc.aubert@campaign.example"))
    r = client.get("/search?domain=tracker.example")
    assert ids(r.text.split('<ol class="hits"')[1]) == [hostile_id(case)]
    r = client.get("/search?folder=hostile&q=Zanzibar-marker")
    assert ids(r.text.split('<ol class="hits"')[1]) == [hostile_id(case)]
    r = client.get("/search?folder=mbox&q=Zanzibar-marker")
    assert "0 results" in r.text
    # broken query syntax is just words
    assert client.get('/search?q="unbalanced ( NEAR AND').status_code == 200


def test_hostile_subject_and_snippet_are_escaped(client: TestClient) -> None:
    r = client.get("/search", params={"q": "script alert"})
    assert "<script>" not in r.text
    assert "&lt;script&gt;" in r.text


def test_item_page_email(client: TestClient, case: Path) -> None:
    tampered = next(h for h in find(case, verdict="tampered") if h["kind"] == "email")
    r = client.get(f"/item/{tampered['id']}")
    assert r.status_code == 200
    assert tampered["subject"] in r.text
    assert 'id="headers"' in r.text and "Message-ID" in r.text
    assert 'id="dkim"' in r.text and "covered headers" in r.text and "keys.zone" in r.text  # key source
    assert "s2017" in r.text or "selector" in r.text
    assert 'id="thread-link"' in r.text and 'id="download"' in r.text
    assert 'id="parent-link"' in r.text  # it sits in a zip
    assert "effect-contradicts" in r.text


def test_item_page_document_diff_and_near_duplicates(client: TestClient, case: Path) -> None:
    doc = next(h for h in find(case, verdict="tampered") if h["kind"] == "document")
    r = client.get(f"/item/{doc['id']}")
    assert r.status_code == 200
    assert '<table class="diff">' in r.text and "<del>350</del>" in r.text and "<ins>35</ins>" in r.text
    near = r.text.split('id="near"')[1].split("</section>")[0]
    assert ids(near) and "v-verified" in near
    assert 'id="metadata"' in r.text


def test_thread_and_sender_views(client: TestClient, case: Path) -> None:
    store = open_store(case)
    try:
        emails = store.search_page("", kind="email", limit=500)[1]
        longest = max(emails, key=lambda e: len(store.thread_of(e["id"])))
        thread = store.thread_of(longest["id"])
    finally:
        store.close()
    assert len(thread) >= 2
    r = client.get(f"/item/{longest['id']}/thread")
    assert r.status_code == 200 and set(ids(r.text)) == {m["id"] for m in thread}
    assert 'class="current"' in r.text
    r = client.get("/sender/marc.aubert@campaign.example")
    total = len(find(case, sender="marc.aubert@campaign.example"))
    assert r.status_code == 200 and f"{total} items" in r.text


def test_raw_bytes_are_exact_downloads(client: TestClient, case: Path) -> None:
    hid = hostile_id(case)
    r = client.get(f"/item/{hid}/raw")
    assert r.status_code == 200 and r.content == hostile_eml()
    assert r.headers["content-disposition"].startswith('attachment; filename="pixel.eml"')
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff"
    store = open_store(case)
    try:
        attachment = next(c for c in store.children(hid) if c["path"].endswith("evil.html"))
        sha = store.item(attachment["id"])["sha256"]
    finally:
        store.close()
    r = client.get(f"/item/{attachment['id']}/raw")
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha
    assert b"<script>" in r.content  # the exact bytes, so never rendered: a download
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream"


def test_remote_images_and_tracking_pixel_are_removed(client: TestClient, case: Path) -> None:
    hid = hostile_id(case)
    page = client.get(f"/item/{hid}")
    assert page.status_code == 200
    assert '<iframe class="body"' in page.text and " sandbox " in page.text
    assert "Remote content blocked" in page.text and "203.0.113.1" in page.text.split('id="blocked"')[1]
    assert "<script>alert" not in page.text
    body = client.get(f"/item/{hid}/body")
    assert body.status_code == 200
    csp = body.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "img-src data:" in csp and "allow-scripts" not in csp
    for host in REMOTE:
        assert host not in body.text, host
    assert "<script" not in body.text and "onload" not in body.text and "onclick" not in body.text
    assert "<iframe" not in body.text and "<link" not in body.text and "<style>body {" not in body.text
    assert "Zanzibar-marker" in body.text and 'src="data:image/gif;base64' in body.text


def test_no_path_reaches_the_file_system(client: TestClient) -> None:
    for url in ("/item/..%2F..%2Fetc%2Fpasswd/raw", "/item/%2Fetc%2Fpasswd", "/static/../app.py",
                "/static/style.css/../../app.py", "/item/0000000000000000/raw"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert b"root:" not in r.content and b"create_app" not in r.content


def test_token_is_required_off_loopback(case: Path) -> None:
    with TestClient(create_app(str(case), token="s3cret-token")) as c:
        assert c.get("/").status_code == 401
        assert c.get("/item/x/raw").status_code == 401
        assert c.get("/", headers={"x-leaksift-token": "wrong"}).status_code == 401
        assert c.get("/", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        r = c.get("/search?q=budget&token=s3cret-token", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/search?q=budget"
        assert "leaksift_token=s3cret-token" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/search?q=budget").status_code == 200  # the cookie now
    with TestClient(create_app(str(case), token="s3cret-token")) as fresh:
        assert fresh.get("/search?q=budget&token=nope").status_code == 401


def test_serve_refuses_a_public_bind_without_a_token(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_run(app, host: str, port: int, **kw) -> None:  # noqa: ANN001
        seen.update(host=host, port=port, app=app)

    import uvicorn
    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(cli, ["serve", "--db", str(case), "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    token = re.search(r"token=([\w-]+)", result.output).group(1)
    with TestClient(seen["app"]) as c:
        assert c.get("/").status_code == 401
        assert c.get("/", headers={"x-leaksift-token": token}).status_code == 200
    result = CliRunner().invoke(cli, ["serve", "--db", str(case)])
    assert seen["host"] == "127.0.0.1" and "token" not in result.output
    with TestClient(seen["app"]) as c:
        assert c.get("/").status_code == 200
