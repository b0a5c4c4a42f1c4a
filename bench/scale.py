"""Scale-out: a full scan with 1 and 2 local jobs and 1 and 2 Dask workers, against the sha256sum floor.

Every figure comes from one run of this script, on one generated dump (the sample leak at --emails/--documents),
page cache warm: `sha256sum` over every file (the floor), then four full scans (every item check with the case's
keys, then the case-wide checks) into fresh SQLite cases, each in its own writer process while a sampler reads the
peak RSS and CPU time of the writer and of every worker (this process's own CPU time, the sampler's and for Dask the
scheduler's, is `cpu_bench_s`). Then the 2-worker scans again on a dump 4x smaller, for memory growth.
Dask runs use a LocalCluster of N worker processes with one thread each on loopback, with leaksift's cluster settings
(scan_dask.cluster_config: no worker profiler, slower dashboard sampling); the writer is the client.
`--rounds 2` (the default) scans each configuration twice, in the order 1, 2, 2, 1 for each executor (ABBA): on a
shared machine whose speed drifts for minutes at a time, a drift that is steady over those four scans slows the
1-job (or 1-worker) pair and the 2-job pair alike, so the ratio of their medians cancels it; one round (1, 2) does
not. Every round's scans are in the output, and so is each round's own ratio.

Usage: .venv/bin/python bench/scale.py [--emails 100000] [--documents 5000] [--rounds 2] [--executors local,dask]
       [--memory-only]  (only the 2-job scans at both sizes: peak memory of readers, writer, case process)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from common import OUT, build_dump, dump_files

from leaksift.scan_dask import cluster_config

LEAKED_AT = "2017-05-05T22:00:00+02:00"


def one_scan(args: argparse.Namespace) -> None:
    """Child mode: one scan, its ScanStats as JSON on stdout."""
    from datetime import datetime

    from leaksift.checks import CheckContext
    from leaksift.keys import KeyStore, parse_key_file
    from leaksift.scan import Scanner
    from leaksift.store import open_store

    keys = KeyStore()
    for record in parse_key_file(Path(args.keys).read_bytes(), args.keys, []):
        keys.add(record)
    ctx = CheckContext(keys=keys, leaked_at=datetime.fromisoformat(LEAKED_AT))
    store = open_store(args.db)
    try:
        stats = Scanner(store=store, root=Path(args.leak), jobs=args.jobs, check_ctx=ctx, executor=args.executor).run()
    finally:
        store.close()
    print(json.dumps({k: getattr(stats, k) for k in ("items", "errors", "sources", "tasks", "seconds",
                                                     "ingest_seconds", "case_seconds")}))


def sampled_scan(leak: Path, keys: Path, db: Path, jobs: int, executor: str) -> dict:
    """Run one scan in a writer process; sample the RSS of the writer and of every other process of this tree."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--one-scan", "--leak", str(leak), "--keys", str(keys), "--db", str(db),
           "--jobs", str(jobs), "--executor", executor]
    me = psutil.Process()
    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}  # last seen user+system seconds: on a shared machine, the cost that load cannot hide
    first_seen: dict[int, float] = {}  # seconds into the scan: the case phase's second process comes last
    stop = threading.Event()

    def sample() -> None:
        # Slow polling of the kernel's own high-water mark (VmHWM): exact peaks, and a sampler that does not take
        # a twentieth of a core from the scan it measures (polling RSS every 50 ms did).
        while not stop.is_set():
            for p in me.children(recursive=True):
                try:
                    first_seen.setdefault(p.pid, time.monotonic() - t0)
                    peaks[p.pid] = max(peaks.get(p.pid, 0), peak_rss(p))
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                except psutil.Error:
                    pass
            stop.wait(0.5)

    steal0 = machine_times()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    steal1 = machine_times()
    stop.set()
    th.join()
    if proc.returncode:
        sys.exit(err[-4000:])
    stats = json.loads(out.strip().splitlines()[-1])
    writer = {proc.pid}
    stats["wall_s"] = round(wall, 2)
    # Machine-wide during the scan: CPU seconds the hypervisor gave to other guests (steal), and idle ones.
    stats["machine_steal_s"], stats["machine_idle_s"] = (round(b - a, 1) for a, b in zip(steal0, steal1))
    stats["cpu_writer_s"] = round(sum(v for p, v in cpu.items() if p in writer), 2)
    stats["cpu_workers_s"] = round(sum(v for p, v in cpu.items() if p not in writer), 2)
    stats["peak_rss_writer_mb"] = round(max((peaks[p] for p in writer), default=0) / 2**20)
    # Processes that began after the per-item phase: the case phase's second process (it holds the near-duplicate
    # index, which grows with the case), not a reader.
    case = {p for p, t in first_seen.items() if p not in writer and t > stats["ingest_seconds"]}
    stats["peak_rss_worker_mb"] = round(max((v for p, v in peaks.items() if p not in writer | case), default=0)
                                        / 2**20)
    stats["peak_rss_case_process_mb"] = round(max((peaks[p] for p in case), default=0) / 2**20)
    return stats


def peak_rss(p: psutil.Process) -> int:
    """The process's peak resident set so far (VmHWM), or its RSS now where /proc has no such line."""
    try:
        for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return p.memory_info().rss


def machine_times() -> tuple[float, float]:
    """(steal, idle) CPU seconds of the whole machine since boot, from /proc/stat; zeros where it is absent."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[8]) / hz, (int(fields[4]) + int(fields[5])) / hz


def _spin(rounds: int) -> float:
    """Pure-Python work of a fixed size (about 0.4 s a round here); its own wall time."""
    t0 = time.monotonic()
    x = 0
    for i in range(rounds * 12_000_000):
        x ^= i
    return time.monotonic() - t0


def machine_ceiling(work: int = 5) -> float:
    """How much faster two processes do twice the work than one does it once, on this machine now: the ceiling
    of any 1 -> 2 speed-up here (2.0 on two free cores; less where the host's other guests slow both vCPUs).
    The loop stays in the CPU's caches; a scan also shares caches and memory bandwidth, so it can fall below."""
    import multiprocessing as mp

    one = _spin(work)
    with mp.get_context("fork").Pool(2) as pool:
        t0 = time.monotonic()
        pool.map(_spin, [work, work])
        two = time.monotonic() - t0
    return round(2 * one / two, 2)


def run_executor(kind: str, n: int, leak: Path, keys: Path, db: Path) -> dict:
    """One scan. `cpu_bench_s` is this process during it: the RSS sampler, and for Dask the scheduler and the
    nannies, which a real cluster runs on other machines but which here share the same cores."""
    me = psutil.Process()
    before = me.cpu_times()
    if kind == "local":
        stats = sampled_scan(leak, keys, db, n, "local")
    else:
        import dask
        from distributed import LocalCluster

        # Set up as docs/scaling.md tells an operator to set up a cluster for scans.
        with dask.config.set(cluster_config()), \
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None, silence_logs=40) as cluster:
            stats = sampled_scan(leak, keys, db, n, "dask://" + cluster.scheduler_address.removeprefix("tcp://"))
    after = me.cpu_times()
    stats["cpu_bench_s"] = round(after.user + after.system - before.user - before.system, 2)
    return stats


def abba(rounds: int) -> list[int]:
    """The order of an executor's scans: 1, 2 then 2, 1 and so on, so that a steady drift hits both alike."""
    return [n for r in range(rounds) for n in ((1, 2) if r % 2 == 0 else (2, 1))]


def median_run(scans: list[dict]) -> dict:
    """One configuration's scans as one: every number its median over the rounds (the scans agree on counts)."""
    out = dict(scans[0])
    for key, value in out.items():
        if isinstance(value, (int, float)) and len(scans) > 1:
            out[key] = round(statistics.median(s[key] for s in scans), 2)
    return out


def sha256_floor(leak: Path, procs: int) -> float:
    t0 = time.monotonic()
    subprocess.run(f"find '{leak}' -type f -print0 | xargs -0 -P {procs} -n 256 sha256sum > /dev/null",
                   shell=True, check=True)
    return time.monotonic() - t0


def main() -> None:
    if "--one-scan" in sys.argv:  # child mode, run by sampled_scan
        child = argparse.ArgumentParser()
        child.add_argument("--one-scan", action="store_true")
        for flag in ("--leak", "--keys", "--db", "--executor"):
            child.add_argument(flag, required=True)
        child.add_argument("--jobs", type=int, required=True)
        one_scan(child.parse_args())
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=100_000)
    ap.add_argument("--documents", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=2, help="scans of each configuration, in ABBA order")
    ap.add_argument("--executors", default="local,dask", help="which to measure, comma-separated")
    ap.add_argument("--memory-only", action="store_true", help="only the 2-job scans at both sizes, for memory")
    args = ap.parse_args()
    if args.memory_only:
        print(json.dumps(memory_only(args), indent=1))
        return
    load_before = os.getloadavg()
    runs: dict[str, dict] = {}
    sizes = [(args.emails, args.documents), (max(40, args.emails // 4), max(24, args.documents // 4))]
    dump = build_dump(*sizes[0])
    leak, keys = dump / "leak", dump / "keys.zone"
    files = dump_files(leak)
    total = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache so every contender reads from memory
        p.read_bytes()
    sha = {n: sha256_floor(leak, n) for n in (1, 2)}
    ceiling = [machine_ceiling()]
    kinds = [k for k in ("local", "dask") if k in args.executors.split(",")]
    rounds: dict[str, list[dict]] = {f"{kind}-{n}": [] for kind in kinds for n in (1, 2)}
    for kind in kinds:
        for n in abba(args.rounds):
            rounds[f"{kind}-{n}"].append(run_executor(kind, n, leak, keys, OUT / f"scale-{kind}-{n}.db"))
    runs.update({name: median_run(scans) for name, scans in rounds.items()})
    ceiling.append(machine_ceiling())
    small = build_dump(*sizes[1])
    for kind in kinds:
        runs[f"{kind}-2-quarter"] = run_executor(kind, 2, small / "leak", small / "keys.zone",
                                                 OUT / f"scale-{kind}-2-q.db")
    result = {"emails": sizes[0][0], "documents": sizes[0][1], "files": len(files), "bytes": total,
              "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "sha256sum_s": {str(k): round(v, 2) for k, v in sha.items()},
              "machine_ceiling_1_to_2_before_after": ceiling, "rounds": args.rounds,
              "dask_config": cluster_config(), "runs": runs,
              "scans_in_order_of_each_configuration": rounds}
    for kind in kinds:
        one, two = runs[f"{kind}-1"], runs[f"{kind}-2"]
        result[f"{kind}_speedup_1_to_2_wall"] = round(one["wall_s"] / two["wall_s"], 2)
        result[f"{kind}_speedup_1_to_2_item_phase"] = round(one["ingest_seconds"] / two["ingest_seconds"], 2)
        result[f"{kind}_speedup_1_to_2_wall_each_round"] = [
            round(a["wall_s"] / b["wall_s"], 2) for a, b in zip(rounds[f"{kind}-1"], rounds[f"{kind}-2"])]
        result[f"{kind}_2_items_per_s"] = round(two["items"] / two["wall_s"])
        result[f"{kind}_2_mb_per_s"] = round(total / two["wall_s"] / 1e6, 2)
        result[f"{kind}_2_fraction_of_sha256sum"] = round(sha[2] / two["wall_s"], 4)
        for name in (f"{kind}-1", f"{kind}-2"):
            r = runs[name]
            result[f"{name}_cpu_ms_per_item_workers"] = round(r["cpu_workers_s"] / r["items"] * 1000, 2)
            result[f"{name}_cpu_ms_per_item_writer"] = round(r["cpu_writer_s"] / r["items"] * 1000, 2)
            # Cores the scan really got: on a shared machine, the ceiling of any speed-up.
            result[f"{name}_cores_used"] = round((r["cpu_writer_s"] + r["cpu_workers_s"] + r["cpu_bench_s"])
                                                 / r["wall_s"], 2)
        result.update(growth(kind, two, runs[f"{kind}-2-quarter"]))
    print(json.dumps(result, indent=1))


def growth(kind: str, full: dict, quarter: dict) -> dict:
    """Peak memory at the full size over the quarter size, per role: readers, writer, case phase's second process."""
    out = {}
    for role in ("worker", "writer", "case_process"):
        a, b = full.get(f"peak_rss_{role}_mb", 0), quarter.get(f"peak_rss_{role}_mb", 0)
        out[f"{kind}_{role}_rss_growth_for_4x_dump"] = round(a / b, 2) if a and b else None
    return out


def memory_only(args: argparse.Namespace) -> dict:
    """The 2-job (2-worker) scans at both sizes, once each: peak memory per role, not speed."""
    sizes = [(args.emails, args.documents), (max(40, args.emails // 4), max(24, args.documents // 4))]
    result: dict = {"emails": sizes[0][0], "documents": sizes[0][1], "runs": {}}
    for kind in [k for k in ("local", "dask") if k in args.executors.split(",")]:
        scans = []
        for size, tag in zip(sizes, ("", "-q")):
            dump = build_dump(*size)
            scans.append(run_executor(kind, 2, dump / "leak", dump / "keys.zone", OUT / f"scale-{kind}-2{tag}.db"))
        result["runs"][f"{kind}-2"], result["runs"][f"{kind}-2-quarter"] = scans
        result.update(growth(kind, *scans))
    return result


if __name__ == "__main__":
    main()
