"""The ``paywall`` command: split one article, set up storage, run an interval, audit, presign.

Exit codes: 0 success, 2 usage, configuration or I/O error, 3 article quarantined (``split``)
or problems found (``verify``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paywall.articles import Format, RawArticle, SplitOptions, split_article
from paywall.config import Settings, load_settings
from paywall.errors import PaywallError
from paywall.segmentation import Markers, NoMarkersPolicy

EXIT_OK, EXIT_USAGE, EXIT_REFUSED = 0, 2, 3


class CliError(Exception):
    pass


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _context(settings: Settings) -> Any:
    from paywall.pipeline import build_context
    from paywall.s3 import endpoint_from_env

    return build_context(settings, endpoint_from_env)


def cmd_split(args: argparse.Namespace) -> int:
    path = Path(args.input)
    try:
        data = sys.stdin.buffer.read() if args.input == "-" else path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.input}: {exc.strerror}") from None
    markers = Markers(args.begin, args.end, args.lenient)
    options = SplitOptions(
        markers=markers,
        no_markers=NoMarkersPolicy(args.no_markers),
        text_placeholder=args.placeholder,
    )
    name = path.name if args.input != "-" else "stdin"
    outputs = split_article(RawArticle("cli", name, data, Format(args.format)), options)
    record = outputs.record.to_dict()
    if not outputs.published:
        print(f"quarantined ({record['status']}): {record['reason']}", file=sys.stderr)
        if args.out is None:
            print(json.dumps(record, ensure_ascii=False, indent=2))
        else:
            _write(
                Path(args.out) / "metadata.json", json.dumps(record, ensure_ascii=False, indent=2)
            )
        return EXIT_REFUSED
    if args.out is None:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return EXIT_OK
    out = Path(args.out)
    for ext, body in outputs.free.items():
        _write(out / f"free.{ext}", body)
    for ext, body in outputs.paid.items():
        _write(out / f"paid.{ext}", body)
    _write(out / "metadata.json", json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    for warning in record["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _write(path: Path, body: bytes | str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def cmd_storage_init(args: argparse.Namespace) -> int:
    from paywall.s3 import endpoint_from_env, make_client
    from paywall.storage import init_buckets

    settings = _settings(args)
    endpoint = endpoint_from_env(settings.storage.connection_id)
    changes = init_buckets(make_client(endpoint), settings.storage)
    where = endpoint.describe()
    print("\n".join(f"{where}: {c}" for c in changes) or f"{where}: storage already set up")
    return EXIT_OK


def _parse_moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_run(args: argparse.Namespace) -> int:
    from paywall.pipeline import run_interval
    from paywall.sources import Interval

    settings = _settings(args)
    start = _parse_moment(args.start)
    end = _parse_moment(args.end) if args.end else start + timedelta(days=1)
    summary = run_interval(
        _context(settings),
        Interval(start, end),
        force=args.force,
        dry_run=args.dry_run,
        limit=args.limit,
        sources=args.source or None,
    )
    print(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from paywall.verify import verify_all, verify_run

    settings = _settings(args)
    ctx = _context(settings)
    markers, probe = settings.markers.build(), ctx.probe
    if args.manifest:
        reports = [verify_run(ctx.store, ctx.layout, args.manifest, markers=markers, probe=probe)]
    else:
        reports = verify_all(ctx.store, ctx.layout, markers=markers, probe=probe)
    if not reports:
        print("no manifests to verify")
        return EXIT_OK
    for report in reports:
        print(report.text())
    return EXIT_OK if all(r.ok for r in reports) else EXIT_REFUSED


def cmd_presign(args: argparse.Namespace) -> int:
    from paywall.reader import presign_paid

    settings = _settings(args)
    ctx = _context(settings)
    url = presign_paid(
        ctx.store, ctx.layout, args.source, args.source_id, ext=args.ext, expires=args.expires
    )
    print(url)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paywall", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="pipeline YAML (default: $PAYWALL_CONFIG or config/)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    split = sub.add_parser("split", help="split one article file ('-' for stdin)")
    split.add_argument("input")
    split.add_argument("--format", choices=[f.value for f in Format], default="auto")
    split.add_argument("--out", help="write free/paid files and metadata.json here")
    split.add_argument("--begin", default=Markers().begin)
    split.add_argument("--end", default=Markers().end)
    split.add_argument("--lenient", action="store_true", help="accept case/space/＃ variants")
    split.add_argument("--no-markers", choices=[p.value for p in NoMarkersPolicy],
                       default="quarantine")  # fmt: skip
    split.add_argument("--placeholder", help="text marking each cut in free.txt")
    split.set_defaults(func=cmd_split)

    storage = sub.add_parser("storage", help="object storage set-up")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    init = storage_sub.add_parser("init", help="create buckets and apply the read policy")
    init.set_defaults(func=cmd_storage_init)

    run = sub.add_parser("run", help="process one interval without Airflow")
    run.add_argument("start", help="interval start, ISO 8601 (UTC if no offset)")
    run.add_argument("end", nargs="?", help="interval end (default: start + 1 day)")
    run.add_argument("--source", action="append", help="only this source (repeatable)")
    run.add_argument("--limit", type=int)
    run.add_argument("--force", action="store_true")
    run.add_argument("--dry-run", action="store_true")
    run.set_defaults(func=cmd_run)

    verify = sub.add_parser("verify", help="audit committed outputs")
    verify.add_argument("--manifest", help="one manifest key (default: every committed run)")
    verify.set_defaults(func=cmd_verify)

    presign = sub.add_parser("presign", help="a short-lived GET URL for a paid half")
    presign.add_argument("source")
    presign.add_argument("source_id")
    presign.add_argument("--ext", default="txt", choices=["txt", "html"])
    presign.add_argument("--expires", type=int, default=300, help="seconds (default 300)")
    presign.set_defaults(func=cmd_presign)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except (CliError, PaywallError, ValueError, KeyError) as exc:
        # Every deliberate error names what failed and where: no traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"paywall: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
