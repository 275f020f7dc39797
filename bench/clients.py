"""Bare S3 PUT clients side by side: which one reaches the server's limit on this machine.

Every candidate PUTs exactly the objects the pipeline writes (recorded from a dry pass: same
bytes, same Content-Type with charset, the ``sha256`` user metadata, an integrity checksum the
server verifies) into fresh buckets of one embedded ``weed mini``, in P processes with C
requests in flight each. Reported per run: PUT/s, client CPU per PUT (user + system time of
the client processes, their native threads included) and server CPU per PUT (the ``weed``
process, from /proc).

Candidates (each skipped, with the reason, when its package is missing):

  boto3       today's bare phase: a thread pool over botocore, Content-MD5
  obstore     Rust ``object_store`` through obstore's async API, x-amz-checksum-sha256
  obstore-sync  obstore's blocking ``put`` from a thread pool (the GIL is released while it waits)
  opendal     Rust OpenDAL through its async Python API
  aiohttp     asyncio + aiohttp with a hand-written SigV4 signer, Content-MD5
  aiobotocore botocore on aiohttp (needs its own venv: it pins botocore; ``--python``)

Usage: python bench/clients.py [--n 3000] [--only obstore,boto3] [--layouts 1x64,2x32]
       [--python /path/to/other/venv/bin/python for aiobotocore] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import pickle
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "plugins"))

from paywall.store import Blob  # noqa: E402  (stdlib-only module: also loads in other venvs)

CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "bin": "application/octet-stream",
}


# ------------------------------------------------------------------ the pipeline's objects
def record_objects(config: Path, interval: Any) -> list[Blob]:
    """Every object (bytes and headers) a pipeline run over ``interval`` writes, in order:
    the run on an in-memory store that records each PUT."""
    from paywall.config import load_settings
    from paywall.memstore import MemoryStore
    from paywall.pipeline import Context, run_interval

    class Recording(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.blobs: list[Blob] = []

        def put(
            self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None
        ) -> str:
            self.blobs.append(blob)
            return super().put(blob, if_none_match=if_none_match, if_match=if_match)

    settings = load_settings(config)
    store = Recording()
    for bucket in (settings.storage.public_bucket, settings.storage.private_bucket):
        store.buckets.setdefault(bucket, {})
    run_interval(Context(settings, store, lambda _c: None), interval)
    return store.blobs


def rebucket(blobs: Sequence[Blob], buckets: dict[str, str], prefix: str = "") -> list[Blob]:
    """The same objects in other buckets and/or under a key prefix: each run writes new keys,
    as a first run does. (Reuse buckets across runs: SeaweedFS gives every bucket its own
    volumes, and a few dozen buckets exhaust ``weed mini``'s, which then answers 500.)"""
    return [
        Blob(
            buckets.get(b.bucket, b.bucket),
            prefix + b.key,
            b.body,
            b.content_type,
            b.md5,
            b.sha256,
            b.encrypt,
            b.metadata,
        )
        for b in blobs
    ]


def md5_b64(blob: Blob) -> str:
    return base64.b64encode(bytes.fromhex(blob.md5)).decode()


# ------------------------------------------------------------------------------ candidates
Endpoint = dict[str, str]  # endpoint_url, access_key, secret_key, region


async def _drive(put_one: Callable[[Blob], Awaitable[Any]], blobs: Sequence[Blob], n: int) -> None:
    """``n`` workers pulling from one iterator: n requests in flight, no task per object."""
    it: Iterator[Blob] = iter(blobs)

    async def worker() -> None:
        for blob in it:
            await put_one(blob)

    await asyncio.gather(*(worker() for _ in range(n)))


def put_boto3(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    from paywall.s3 import S3Endpoint, make_client

    client = make_client(
        S3Endpoint(ep["endpoint_url"], ep["access_key"], ep["secret_key"], ep["region"]),
        max_pool=in_flight,
    )

    def put(blob: Blob) -> None:
        client.put_object(
            Bucket=blob.bucket,
            Key=blob.key,
            Body=blob.body,
            ContentType=blob.content_type,
            ContentMD5=md5_b64(blob),
            Metadata={"sha256": blob.sha256},
        )

    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(put, blobs))


def _obstore_stores(ep: Endpoint, buckets: set[str]) -> dict[str, Any]:
    from obstore.store import S3Store

    return {
        bucket: S3Store(
            bucket,
            endpoint=ep["endpoint_url"],
            access_key_id=ep["access_key"],
            secret_access_key=ep["secret_key"],
            region=ep["region"],
            virtual_hosted_style_request=False,
            checksum_algorithm="sha256",
            client_options={"allow_http": True, "pool_max_idle_per_host": "64"},
        )
        for bucket in buckets
    }


def put_obstore(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    import obstore

    stores = _obstore_stores(ep, {b.bucket for b in blobs})

    async def put(blob: Blob) -> None:
        await obstore.put_async(
            stores[blob.bucket],
            blob.key,
            blob.body,
            use_multipart=False,
            attributes={"Content-Type": blob.content_type, "sha256": blob.sha256},
        )

    asyncio.run(_drive(put, blobs, in_flight))


def put_obstore_sync(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    import obstore

    stores = _obstore_stores(ep, {b.bucket for b in blobs})

    def put(blob: Blob) -> None:
        obstore.put(
            stores[blob.bucket],
            blob.key,
            blob.body,
            use_multipart=False,
            attributes={"Content-Type": blob.content_type, "sha256": blob.sha256},
        )

    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(put, blobs))


def put_opendal(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    import opendal

    ops = {
        bucket: opendal.AsyncOperator(
            "s3",
            bucket=bucket,
            endpoint=ep["endpoint_url"],
            region=ep["region"],
            access_key_id=ep["access_key"],
            secret_access_key=ep["secret_key"],
            disable_config_load="true",
            disable_ec2_metadata="true",
        )
        for bucket in {b.bucket for b in blobs}
    }

    async def put(blob: Blob) -> None:
        await ops[blob.bucket].write(
            blob.key,
            blob.body,
            content_type=blob.content_type,
            user_metadata={"sha256": blob.sha256},
        )

    asyncio.run(_drive(put, blobs, in_flight))


class SigV4:
    """Just enough AWS Signature V4 for a PUT with an unsigned payload (Content-MD5 covers it)."""

    def __init__(self, ep: Endpoint) -> None:
        self.access, self.secret, self.region = ep["access_key"], ep["secret_key"], ep["region"]
        self._keys: dict[str, bytes] = {}

    def _key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            k = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
            for part in (self.region, "s3", "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            self._keys[day] = key = k
        return key

    def sign(self, method: str, host: str, path: str, headers: dict[str, str]) -> dict[str, str]:
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = headers | {
            "host": host,
            "x-amz-date": now,
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        }
        names = sorted(k.lower() for k in headers)
        lower = {k.lower(): v.strip() for k, v in headers.items()}
        canonical = "\n".join(
            [
                method,
                path,
                "",
                *(f"{n}:{lower[n]}" for n in names),
                "",
                ";".join(names),
                "UNSIGNED-PAYLOAD",
            ]
        )
        scope = f"{now[:8]}/{self.region}/s3/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{now}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
        )
        signature = hmac.new(self._key(now[:8]), to_sign.encode(), "sha256").hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        headers.pop("host")
        return headers


def put_aiohttp(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    import aiohttp
    import yarl

    signer = SigV4(ep)
    base = ep["endpoint_url"].rstrip("/")
    host = yarl.URL(base).raw_authority

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def put(blob: Blob) -> None:
                path = "/" + quote(blob.bucket) + "/" + quote(blob.key, safe="/~")
                headers = signer.sign(
                    "PUT",
                    host,
                    path,
                    {
                        "Content-Type": blob.content_type,
                        "Content-MD5": md5_b64(blob),
                        "x-amz-meta-sha256": blob.sha256,
                    },
                )
                url = yarl.URL(base + path, encoded=True)
                async with session.put(url, data=blob.body, headers=headers) as response:
                    if response.status != 200:
                        raise RuntimeError(f"PUT {path}: {response.status} {await response.text()}")
                    await response.read()

            await _drive(put, blobs, in_flight)

    asyncio.run(main())


def put_aiobotocore(ep: Endpoint, blobs: Sequence[Blob], in_flight: int) -> None:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=in_flight,
    )

    async def main() -> None:
        async with get_session().create_client(
            "s3",
            endpoint_url=ep["endpoint_url"],
            region_name=ep["region"],
            aws_access_key_id=ep["access_key"],
            aws_secret_access_key=ep["secret_key"],
            config=config,
        ) as client:

            async def put(blob: Blob) -> None:
                await client.put_object(
                    Bucket=blob.bucket,
                    Key=blob.key,
                    Body=blob.body,
                    ContentType=blob.content_type,
                    ContentMD5=md5_b64(blob),
                    Metadata={"sha256": blob.sha256},
                )

            await _drive(put, blobs, in_flight)

    asyncio.run(main())


CANDIDATES: dict[str, Callable[[Endpoint, Sequence[Blob], int], None]] = {
    "boto3": put_boto3,
    "obstore": put_obstore,
    "obstore-sync": put_obstore_sync,
    "opendal": put_opendal,
    "aiohttp": put_aiohttp,
    "aiobotocore": put_aiobotocore,
}
PACKAGES = {
    "boto3": "boto3",
    "obstore": "obstore",
    "obstore-sync": "obstore",
    "opendal": "opendal",
    "aiohttp": "aiohttp",
    "aiobotocore": "aiobotocore",
}


# ---------------------------------------------------------------------------- measuring
def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_main(args: list[str]) -> None:
    """One client process: PUT its share, print seconds and CPU as JSON."""
    name, ep_json, objects_file, share, shares, in_flight = args
    ep = json.loads(ep_json)
    with open(objects_file, "rb") as fh:
        blobs: list[Blob] = pickle.load(fh)[int(share) :: int(shares)]
    put_all = CANDIDATES[name]
    put_all(ep, blobs[:20], 4)  # warm-up: imports, connections, first signatures
    cpu = cpu_seconds()
    started = time.perf_counter()
    put_all(ep, blobs[20:], int(in_flight))
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "cpu": cpu_seconds() - cpu,
                "objects": len(blobs) - 20,
            }
        )
    )


def run_layout(
    name: str,
    ep: Endpoint,
    objects_file: Path,
    processes: int,
    in_flight: int,
    python: str,
    server_pid: int | None,
) -> dict[str, Any]:
    """Start ``processes`` workers at once; wall time from the first start to the last end."""
    env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(HERE)])}
    server_cpu = proc_cpu_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                python,
                __file__,
                "--worker",
                name,
                json.dumps(ep),
                str(objects_file),
                str(i),
                str(processes),
                str(in_flight),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(processes)
    ]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - started
    server_cpu = (proc_cpu_seconds(server_pid) - server_cpu) if server_pid else float("nan")
    if any(p.returncode for p in procs):
        err = next(e for p, (_o, e) in zip(procs, outs, strict=True) if p.returncode)
        return {"client": name, "error": err.strip().splitlines()[-1][:300]}
    results = [json.loads(o.strip().splitlines()[-1]) for o, _e in outs]
    objects = sum(r["objects"] for r in results)
    # Throughput over the slowest worker's PUT loop (start-up and warm-up excluded).
    seconds = max(r["seconds"] for r in results)
    return {
        "client": name,
        "layout": f"{processes}x{in_flight}",
        "objects": objects,
        "seconds": seconds,
        "put_per_s": objects / seconds,
        "client_cpu_ms_per_put": 1000 * sum(r["cpu"] for r in results) / objects,
        "server_cpu_ms_per_put": 1000 * server_cpu / objects,
        "wall_s": wall,
    }


def available(name: str, python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", f"import {PACKAGES[name]}"], capture_output=True, check=False
    )
    return probe.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=3000, help="articles in the corpus")
    parser.add_argument("--only", default=",".join(CANDIDATES))
    parser.add_argument("--layouts", default="2x16,1x64,2x32", help="PROCESSESxIN_FLIGHT,...")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--python", default="", help="interpreter for aiobotocore (own venv)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return 0

    import yaml

    import corpus as corpus_mod
    from paywall.s3 import make_client
    from paywall.sources import Interval
    from paywall_dev.servers import S3Server

    names = [n for n in args.only.split(",") if n]
    layouts = [tuple(int(x) for x in s.split("x")) for s in args.layouts.split(",")]
    pythons = {
        n: (args.python if n == "aiobotocore" and args.python else sys.executable) for n in names
    }
    skipped = {n: f"{PACKAGES[n]} not importable" for n in names if not available(n, pythons[n])}
    names = [n for n in names if n not in skipped]
    day = datetime(2026, 11, 20, tzinfo=UTC)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="paywall-clients-") as tmp:
        work = Path(tmp)
        corpus = corpus_mod.generate(HERE / "results" / f"corpus-{args.n}", args.n)
        config = work / "rec.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "pipeline": {"name": "clients", "chunk_size": 1000},
                    "storage": {"public_bucket": "rec-pub", "private_bucket": "rec-priv"},
                    "sources": [
                        {"name": "bench", "kind": "local", "path": str(corpus), "timestamp": "path"}
                    ],
                }
            )
        )
        blobs = record_objects(config, Interval(day, day.replace(day=21)))
        total = sum(b.size for b in blobs)
        print(f"[clients] {len(blobs):,} objects, {total / 1e6:.1f} MB, from {args.n:,} articles")
        with S3Server("seaweedfs", work / "s3") as server:
            ep = server.endpoint
            endpoint = {
                "endpoint_url": ep.endpoint_url or "",
                "access_key": ep.access_key or "",
                "secret_key": ep.secret_key or "",
                "region": ep.region,
            }
            client = make_client(ep)
            pid = server.process.pid if server.process else None
            buckets = {"rec-pub": "clients-pub", "rec-priv": "clients-priv"}
            for bucket in buckets.values():
                client.create_bucket(Bucket=bucket)
            for round_ in range(args.rounds):
                for name in names:
                    for processes, in_flight in layouts:
                        tag = secrets.token_hex(3)
                        objects_file = work / f"objects-{tag}.pickle"
                        relocated = rebucket(blobs, buckets, prefix=f"run-{tag}/")
                        objects_file.write_bytes(pickle.dumps(relocated))
                        row = run_layout(
                            name, endpoint, objects_file, processes, in_flight, pythons[name], pid
                        ) | {"round": round_}
                        objects_file.unlink()
                        results.append(row)
                        print(json.dumps(row), flush=True)
    print()
    print(
        "| client | layout | PUT/s (best) | PUT/s (all rounds) | client CPU ms/PUT"
        " | server CPU ms/PUT |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        for processes, in_flight in layouts:
            rows = [
                r
                for r in results
                if r["client"] == name and r.get("layout") == f"{processes}x{in_flight}"
            ]
            if not rows:
                errors = [r["error"] for r in results if r["client"] == name and "error" in r]
                print(f"| {name} | {processes}x{in_flight} | failed: {errors[:1]} | | | |")
                continue
            best = max(rows, key=lambda r: r["put_per_s"])
            print(
                f"| {name} | {processes}x{in_flight} | {best['put_per_s']:.0f}"
                f" | {', '.join(format(r['put_per_s'], '.0f') for r in rows)}"
                f" | {best['client_cpu_ms_per_put']:.2f} | {best['server_cpu_ms_per_put']:.2f} |"
            )
    for name, why in skipped.items():
        print(f"| {name} | skipped: {why} | | | | |")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "skipped": skipped}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
