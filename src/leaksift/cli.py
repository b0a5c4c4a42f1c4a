"""Command line: parse options, call the library, print. Nothing else lives here."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .checks import CheckContext
from .ingest.base import Limits
from .keys import KeyStore, key_info, parse_key_file
from .report.export import write_csv, write_jsonl
from .scan import ScanError, Scanner, ScanStats
from .store import open_store
from .store.base import Summary

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Tell which files in a leaked dump are provably authentic, consistent, or tampered.")
console = Console(stderr=True)
out = Console(soft_wrap=True)

KINDS = ["email", "document", "attachment", "archive", "other"]
VERDICTS = ["verified", "consistent", "suspicious", "tampered", "unreadable"]


def _parse_leaked_at(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("give an ISO 8601 date with its offset, e.g. 2017-05-05T22:00:00+02:00")
    if dt.tzinfo is None:
        raise typer.BadParameter("the date needs a time-zone offset, e.g. +02:00")
    return dt.isoformat()


def _open_case(db: str, must_exist: bool = True):  # noqa: ANN202 - a CaseStore
    if must_exist and "://" not in db and not Path(db).exists():
        console.print(f"[red]no case database at {db}[/red] (run `leaksift scan DUMP --db {db}` first)")
        raise typer.Exit(2)
    return open_store(db)


@app.command()
def scan(
    dump: Path = typer.Argument(..., exists=True, help="The dump: a folder, an archive or a mailbox file."),
    db: str = typer.Option(..., "--db", help="The case database (a SQLite file)."),
    keys: list[Path] = typer.Option([], "--keys", exists=True, dir_okay=False,
                                    help="DKIM key file(s): zone file, 'name record' lines or JSON Lines."),
    leaked_at: Optional[str] = typer.Option(None, "--leaked-at", help="When the dump was published (ISO 8601)."),
    jobs: int = typer.Option(os.cpu_count() or 2, "--jobs", "-j", min=1, help="Worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    dns: bool = typer.Option(False, "--dns", help="Ask DNS for keys the case lacks (never done otherwise)."),
    checks: bool = typer.Option(True, "--checks/--no-checks", help="Run the checks (default), or ingest only."),
    executor: str = typer.Option("local", "--executor",
                                 help="Where items are read: 'local' (--jobs processes here) or "
                                      "'dask://HOST:PORT[?spool=DIR]' (a Dask scheduler; the dump on a shared path)."),
) -> None:
    """Ingest a dump into a case database (resumable: run it again to finish or update)."""
    leaked = _parse_leaked_at(leaked_at)
    store = _open_case(db, must_exist=False)
    try:
        dump = dump.resolve()
        store.set_meta("dump_root", str(dump))
        if leaked:
            store.set_meta("leaked_at", leaked)
        for key_file in keys:
            _import_keys(store, key_file)
        check_ctx = _check_context(store)
        scan_id = store.begin_scan(str(dump), {"jobs": jobs, "keys": [str(k) for k in keys], "leaked_at": leaked,
                                               "dns": dns})
        scanner = Scanner(store=store, root=dump, jobs=jobs, limits=Limits(), check_ctx=check_ctx, checks=checks,
                          executor=executor)
        try:
            stats = _run_with_progress(scanner, quiet)
        except ScanError as e:
            console.print(f"[red]scan stopped:[/red] {e}")
            raise typer.Exit(1)
        if dns:
            _dns_then_recheck(store)
        store.end_scan(scan_id, {"items": stats.items, "errors": stats.errors, "sources": stats.sources,
                                 "skipped": stats.sources_skipped, "seconds": round(stats.seconds, 2)})
        _print_summary(store.summary(), stats)
    finally:
        store.close()


def _check_context(store) -> CheckContext:  # noqa: ANN001 - a CaseStore
    """What the checks judge by: the case's keys and the publication date of the dump."""
    keystore = KeyStore()
    for record in store.keys():
        keystore.add(record)
    leaked = store.get_meta("leaked_at")
    return CheckContext(keys=keystore, leaked_at=datetime.fromisoformat(leaked) if leaked else None)


def _dns_then_recheck(store) -> None:  # noqa: ANN001 - a CaseStore
    from .checks.recheck import fetch_missing_keys

    n = fetch_missing_keys(store)
    console.print(f"DNS: {n} new key records, stored with the time of the query")
    if n:
        _recheck(store, _check_context(store), everything=False)


def _recheck(store, ctx: CheckContext, everything: bool) -> int:  # noqa: ANN001 - a CaseStore
    from .checks.case import run_case_checks
    from .checks.recheck import recheck, unverified_signatures

    ids = store.item_ids("email") if everything else sorted(
        {i for items in unverified_signatures(store).values() for i in items})
    n = recheck(store, ctx, ids)
    run_case_checks(store, ctx)
    return n


@app.command()
def check(
    db: str = typer.Option(..., "--db"),
    keys: list[Path] = typer.Option([], "--keys", exists=True, dir_okay=False, help="More key files first."),
    dns: bool = typer.Option(False, "--dns", help="Ask DNS for keys the case lacks (never done otherwise)."),
    everything: bool = typer.Option(False, "--all", help="Recheck every email, not only unverifiable ones."),
) -> None:
    """Run the email checks again from the case (after new keys arrived); the dump is not read again."""
    store = _open_case(db)
    try:
        store.bulk_end()  # words a cut-short scan left unindexed
        for key_file in keys:
            _import_keys(store, key_file)
        if dns:
            from .checks.recheck import fetch_missing_keys

            console.print(f"DNS: {fetch_missing_keys(store)} new key records, stored with the time of the query")
        n = _recheck(store, _check_context(store), everything)
        console.print(f"rechecked {n} emails")
        _print_summary(store.summary())
    finally:
        store.close()


def _import_keys(store, key_file: Path) -> int:  # noqa: ANN001 - a CaseStore
    """Parse a key file and keep its records, and the file itself, in the case."""
    data = key_file.read_bytes()
    problems: list = []
    try:
        records = parse_key_file(data, str(key_file), problems)
    except ValueError as e:
        console.print(f"[red]cannot read keys from {key_file}:[/red] {e}")
        raise typer.Exit(2)
    for problem in problems:
        console.print(f"[yellow]skipped {problem}[/yellow]")
    store.add_key_file(str(key_file), data)
    return store.add_keys(records)


keys_app = typer.Typer(no_args_is_help=True, help="The DKIM key store of a case.")
app.add_typer(keys_app, name="keys")


@keys_app.command("import")
def keys_import(files: list[Path] = typer.Argument(..., exists=True, dir_okay=False),
                db: str = typer.Option(..., "--db")) -> None:
    """Keep key records (zone file, 'name record' lines or JSON Lines) in the case, with their source."""
    store = _open_case(db, must_exist=False)
    try:
        for f in files:
            n = _import_keys(store, f)
            console.print(f"{f}: {n} new key records")
    finally:
        store.close()


@keys_app.command("list")
def keys_list(db: str = typer.Option(..., "--db"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List the key records of the case, with where each came from."""
    store = _open_case(db)
    try:
        records = store.keys()
    finally:
        store.close()
    if as_json:
        for r in records:
            typer.echo(json.dumps({"domain": r.domain, "selector": r.selector, "record": r.record.decode("ascii",
                                   "replace"), "source": r.source, "first_seen": r.first_seen,
                                   "last_seen": r.last_seen, "fetched_at": r.fetched_at, **key_info(r.record)},
                                  ensure_ascii=False, default=str))
        return
    t = Table(title=f"{len(records)} key records")
    for col in ("name", "key", "seen", "source"):
        t.add_column(col, overflow="fold")
    for r in records:
        info = key_info(r.record)
        key = f"{info.get('key_type') or '?'} {info.get('bits') or '?'} bits"
        seen = " – ".join(x for x in (r.first_seen, r.last_seen) if x) or (f"DNS {r.fetched_at}" if r.fetched_at else "")
        t.add_row(r.name, key, seen, r.source)
    out.print(t)


def _run_with_progress(scanner: Scanner, quiet: bool) -> ScanStats:
    if quiet or not console.is_terminal and os.environ.get("LEAKSIFT_PROGRESS") != "1":
        return scanner.run()
    with Progress(TextColumn("[bold]scan"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("{task.fields[line]}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("scan", total=1, line="")
        start = [0.0]

        def progress(stats: ScanStats, done: int, total: int) -> None:
            import time
            now = time.monotonic()
            if not start[0]:
                start[0] = now
            secs = max(now - start[0], 1e-3)
            bar.update(task, total=max(total, 1), completed=done,
                       line=f"{stats.items} items  {stats.items / secs:,.0f} items/s  "
                            f"{done / secs / 1e6:,.1f} MB/s  {stats.errors} errors")

        scanner.on_progress = progress
        return scanner.run()


def _print_summary(s: Summary, stats: ScanStats | None = None) -> None:
    if stats is not None:
        rate = stats.items / stats.seconds if stats.seconds else 0.0
        console.print(f"scanned {stats.sources} files ({stats.sources_skipped} unchanged, skipped) "
                      f"in {stats.seconds:.1f} s: {stats.items} items written, {rate:,.0f} items/s")
    t = Table(title="Case summary", show_header=True)
    t.add_column("")
    t.add_column("count", justify="right")
    t.add_row("items (locations)", str(s.items))
    t.add_row("distinct contents", str(s.unique_blobs))
    for kind, n in s.by_kind.items():
        t.add_row(f"  kind: {kind}", str(n))
    for verdict, n in s.by_verdict.items():
        t.add_row(f"  verdict: {verdict}", str(n))
    t.add_row("containers", str(s.containers))
    t.add_row("  with children unaccounted for", str(len(s.mismatched_containers)))
    for reason, n in s.errors_by_reason.items():
        t.add_row(f"  error: {reason}", str(n))
    out.print(t)
    for c in s.mismatched_containers[:20]:
        lost = c["children_expected"] - c["children_emitted"] - c["children_failed"]
        out.print(f"[yellow]container {c['id']} {c['path']}: announced {c['children_expected']}, "
                  f"read {c['children_emitted']}, failed {c['children_failed']}, unaccounted {lost}"
                  + (f" ({c['error']})" if c["error"] else "") + "[/yellow]")
    if len(s.mismatched_containers) > 20:
        out.print(f"... and {len(s.mismatched_containers) - 20} more containers (see the export)")


@app.command()
def summary(db: str = typer.Option(..., "--db")) -> None:
    """Print the case summary again."""
    store = _open_case(db)
    try:
        _print_summary(store.summary())
    finally:
        store.close()


@app.command()
def search(
    query: str = typer.Argument(..., help="Full-text query: words, \"phrases\", AND, OR, NOT, prefix*."),
    db: str = typer.Option(..., "--db"),
    kind: Optional[str] = typer.Option(None, "--kind", help="|".join(KINDS)),
    verdict: Optional[str] = typer.Option(None, "--verdict", help="|".join(VERDICTS)),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    offset: int = typer.Option(0, "--offset", min=0),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per hit."),
) -> None:
    """Full-text search over subjects and text."""
    if kind and kind not in KINDS:
        raise typer.BadParameter(f"kind is one of {', '.join(KINDS)}", param_hint="--kind")
    if verdict and verdict not in VERDICTS:
        raise typer.BadParameter(f"verdict is one of {', '.join(VERDICTS)}", param_hint="--verdict")
    store = _open_case(db)
    try:
        hits = store.search(query, kind=kind, verdict=verdict, limit=limit, offset=offset)
    except sqlite3.OperationalError as e:
        console.print(f"[red]bad query:[/red] {e}")
        raise typer.Exit(2)
    finally:
        store.close()
    if as_json:
        for h in hits:
            typer.echo(json.dumps(h.__dict__, ensure_ascii=False))
        return
    t = Table(show_header=True, title=f"{len(hits)} hits" + (f" from {offset}" if offset else ""))
    for col in ("id", "kind", "verdict", "path", "subject / snippet"):
        t.add_column(col, overflow="fold")
    for h in hits:
        t.add_row(h.id, h.kind, h.verdict, h.path, (h.subject + "\n" if h.subject else "") + h.snippet)
    out.print(t)


@app.command()
def export(
    db: str = typer.Option(..., "--db"),
    format: str = typer.Option("jsonl", "--format", help="jsonl, csv or timesketch"),
    output: Path = typer.Option(Path("-"), "--output", "-o", help="File to write; - for standard output."),
    text: bool = typer.Option(False, "--text", help="Include extracted text (jsonl only)."),
) -> None:
    """Export every item, once per location (docs/export.md)."""
    if format not in ("jsonl", "csv", "timesketch"):
        raise typer.BadParameter("format is jsonl, csv or timesketch", param_hint="--format")
    store = _open_case(db)
    try:
        fh = sys.stdout if str(output) == "-" else open(output, "w", encoding="utf-8", newline="")
        try:
            if format == "timesketch":
                _export_timesketch(store, fh)
                return
            n = write_jsonl(store.iter_items(), fh, text) if format == "jsonl" else write_csv(store.iter_items(), fh)
        finally:
            if fh is not sys.stdout:
                fh.close()
    finally:
        store.close()
    console.print(f"exported {n} items")


def _export_timesketch(store, fh) -> None:  # noqa: ANN001 - a CaseStore, a text file
    from .report.timesketch import write_timesketch

    stats = write_timesketch(store.iter_items(), fh)
    console.print(f"exported {stats.events} timeline events from {stats.items} items"
                  + (f"; {stats.skipped} unreadable dates skipped" if stats.skipped else ""))


@app.command()
def proof(
    items: Optional[list[str]] = typer.Argument(None, help="Item ids to bundle."),
    db: str = typer.Option(..., "--db"),
    all_verified: bool = typer.Option(False, "--all-verified", help="Bundle every verified item."),
    output: Path = typer.Option(..., "--output", "-o", help="The zip to write."),
) -> None:
    """Proof bundles: the verified bytes, keys, undo and commands to re-check each proof with other tools."""
    from .report.proof import verified_ids, write_bundle

    if bool(items) == all_verified:
        raise typer.BadParameter("give item ids or --all-verified (not both)")
    if not output.parent.is_dir():
        raise typer.BadParameter(f"no folder {output.parent}", param_hint="--output")
    store = _open_case(db)
    try:
        stats = write_bundle(store, verified_ids(store) if all_verified else items or [], output)
    finally:
        store.close()
    console.print(f"{output}: {stats.messages} signed messages, {stats.inherited} items proven through them"
                  + (f"; {len(stats.skipped)} not bundled (see manifest.json)" if stats.skipped else ""))
    if items and stats.skipped:
        for s in stats.skipped:
            console.print(f"[yellow]{s['item_id']}: {s['reason']}[/yellow]")
        raise typer.Exit(1)


@app.command()
def show(
    item_id: str = typer.Argument(...),
    db: str = typer.Option(..., "--db"),
    full: bool = typer.Option(False, "--full", help="The whole text and metadata, not the first lines."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One item: where it sits, metadata, text, findings."""
    from .report.export import export_record

    store = _open_case(db)
    try:
        d = store.item(item_id)
        if d is None:
            console.print(f"[red]no item {item_id}[/red]")
            raise typer.Exit(1)
        rec = export_record(d, with_text=True)
        others = [loc for loc in store.locations(d["sha256"]) if loc["id"] != item_id] if d["sha256"] else []
        kids = store.children(item_id)
        parent = store.item(d["parent"]) if d["parent"] else None
    finally:
        store.close()
    if as_json:
        rec["other_locations"] = others
        rec["children"] = kids
        out.print_json(json.dumps(rec, ensure_ascii=False, default=str))
        return
    _print_item(rec, others, kids, parent, full)


def _print_item(rec: dict, others: list[dict], kids: list[dict], parent: dict | None, full: bool) -> None:
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key in ("id", "path", "kind", "mime", "sha256", "size", "verdict", "error", "transforms"):
        if rec.get(key) not in (None, [], ""):
            t.add_row(key, str(rec[key]))
    if parent:
        t.add_row("parent", f"{parent['id']}  {parent['path']}")
    for key in ("from", "to", "cc", "date", "subject", "message_id", "in_reply_to", "references"):
        if rec.get(key):
            t.add_row(key, ", ".join(rec[key]) if isinstance(rec[key], list) else str(rec[key]))
    if rec["container"]:
        c = rec["container"]
        t.add_row("children", f"announced {c['expected']}, read {c['emitted']}, failed {c['failed']}, "
                              f"unaccounted {c['lost']}")
    out.print(t)
    if others:
        out.print(f"[bold]also found at[/bold] ({len(others)}):")
        for loc in others[:50]:
            out.print(f"  {loc['id']}  {loc['path']}")
    out.print("[bold]findings[/bold]:" + ("" if rec["findings"] else " none"))
    for f in rec["findings"]:
        out.print(f"  [{f['effect']}] {f['check']}: {f['summary']}")
    if kids:
        out.print(f"[bold]children[/bold] ({len(kids)}):")
        for k in kids[: None if full else 30]:
            out.print(f"  {k['id']}  {k['kind']:<10} {k['verdict']:<11} {k['path']}")
    meta = json.dumps({"metadata": rec["metadata"], "location": rec["location"]}, ensure_ascii=False, indent=1,
                      default=str)
    lines = meta.splitlines()
    out.print("[bold]metadata[/bold]:")
    out.print("\n".join(lines if full else lines[:60]) + ("" if full or len(lines) <= 60 else "\n  ... (--full)"),
              markup=False, highlight=False)
    text = rec.get("text") or ""
    if text:
        out.print("[bold]text[/bold]:")
        out.print(text if full else text[:3000] + (" ... (--full)" if len(text) > 3000 else ""),
                  markup=False, highlight=False)


@app.command()
def report(
    db: str = typer.Option(..., "--db"),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="The HTML file to write."),
) -> None:
    """Write the case report: one self-contained HTML page (summary, charts, flagged items, method)."""
    from .report.html import render_report

    store = _open_case(db)
    try:
        n = render_report(store, output)
    finally:
        store.close()
    console.print(f"report written to {output} ({n} flagged items)")


@app.command()
def sample(
    out_dir: Path = typer.Argument(..., help="Folder to write the sample leak into."),
    keys_out: Optional[Path] = typer.Option(None, "--keys-out", help="Where to write the DKIM key zone file."),
    emails: int = typer.Option(120, "--emails", min=1),
    documents: int = typer.Option(24, "--documents", min=0),
    seed: int = typer.Option(2017, "--seed"),
    manifest_out: Optional[Path] = typer.Option(None, "--manifest", help="Write the ground truth as JSON."),
) -> None:
    """Build a small, realistic sample leak (signed mailboxes in several formats, documents, keys)."""
    from .sample import build_sample

    manifest = build_sample(out_dir, keys_out=keys_out, emails=emails, documents=documents, seed=seed)
    if manifest_out:
        manifest.write_json(manifest_out)
    counts = ", ".join(f"{n} {fmt}" for fmt, n in sorted(manifest.counts.items()))
    console.print(f"sample leak written to {out_dir} in {manifest.build_seconds:.1f} s: "
                  f"{len(manifest.files)} files ({counts})" + (f"; keys in {keys_out}" if keys_out else ""))


@app.command()
def formats() -> None:
    """List the formats leaksift reads, by reader."""
    from .ingest.registry import default_registry

    for reader, mimes in default_registry().formats().items():
        out.print(f"[bold]{reader}[/bold]: {', '.join(mimes)}")


@app.command()
def serve(
    db: str = typer.Option(..., "--db", help="The case database."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs a token."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    token: Optional[str] = typer.Option(None, "--token", help="Access token (generated when binding elsewhere)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Server processes (each renders pages on its own core); try one per core on a "
                                     "shared case with many readers."),
) -> None:
    """Browse, search and read the case in a local web app (nothing it shows can load anything from outside)."""
    import ipaddress
    import secrets

    import uvicorn

    from .web import create_app

    _open_case(db).close()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        token = secrets.token_urlsafe(24)
        console.print(f"binding {host} needs a token: generated one, shown only in this link")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"leaksift on http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    if workers == 1:
        uvicorn.run(create_app(db, token=token), host=host, port=port, log_level="warning")
        return
    from .web.app import ENV_DB, ENV_TOKEN

    # Several processes need an import string, not an app object: each worker rebuilds the app from the environment.
    os.environ[ENV_DB] = str(db)
    os.environ[ENV_TOKEN] = token or ""
    uvicorn.run("leaksift.web.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
