"""The typed contract: every record round-trips through JSON and matches its published schema;
errors survive pickling with their codes."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import jsonschema
import pytest

from paywall import errors
from paywall.metadata import load_schema
from paywall.model import (
    Action,
    ArticleRef,
    ChunkJob,
    ChunkResult,
    CommitMarker,
    Counts,
    Interval,
    ManifestRecord,
    ObjectRef,
    Outcome,
    PlanParams,
    PlanRef,
    PrivateHeader,
    Role,
    RunSummary,
)
from paywall.segmentation import Status

DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
SHA = "a" * 64
MD5 = "b" * 32


def _obj(role: Role, key: str) -> ObjectRef:
    return ObjectRef(role, key, MD5, SHA, 10)


PUBLISHED = ManifestRecord(
    article_id="0" * 20,
    source="desk",
    source_id="2026/11/20/a.txt",
    timestamp="2026-11-20T00:00:00Z",
    outcome=Outcome.PUBLISHED,
    action=Action.WRITTEN,
    status="ok",
    title="标题",
    revision=2,
    objects=(
        _obj(Role.PAID, "paid/desk/2026/11/20/a.txt~/paid.txt"),
        _obj(Role.FREE, "free/desk/2026/11/20/a.txt~/free.txt"),
        _obj(Role.META, "meta/desk/2026/11/20/a.txt~/meta.json"),
    ),
    input_sha256=SHA,
    split="0123456789abcdef",
    origin={"etag": '"abc"'},
)
QUARANTINED = PUBLISHED.with_changes(
    outcome=Outcome.QUARANTINED,
    action=Action.RETRACTED,
    status="broken_marker",
    reason="damaged marker",
    title=None,
    objects=(
        _obj(Role.INPUT, "quarantine/desk/2026/11/20/a.txt~/input"),
        _obj(Role.REASON, "quarantine/desk/2026/11/20/a.txt~/reason.json"),
    ),
)
FAILED = PUBLISHED.with_changes(
    outcome=Outcome.FAILED, status="fetch_failed", reason="HTTP 503", carried=True, origin={}
)
PLAN = PlanRef(
    plan_key="staging/p/slug/plans/0123456789abcdef.jsonl",
    plan_id="0123456789abcdef",
    interval=DAY,
    full=True,
    chunks=2,
    articles=7,
    per_source={"desk": 7},
    dry_run=False,
    params=PlanParams(None, ("x",), 5),
)


@pytest.mark.parametrize("record", [PUBLISHED, QUARANTINED, FAILED], ids=lambda r: r.outcome)
def test_manifest_lines_match_their_schemas_and_round_trip(record: ManifestRecord) -> None:
    public, private = record.public_json(), record.private_json()
    jsonschema.validate(public, load_schema("manifest-record"))
    jsonschema.validate(private, load_schema("manifest-private"))
    again = ManifestRecord.from_lines(json.loads(json.dumps(public)), private)
    assert again == record.with_changes(action=Action.UNCHANGED)  # no action in manifests
    assert ManifestRecord.from_json(record.to_json()) == again


def test_the_public_line_holds_no_digest_of_private_objects() -> None:
    public = json.dumps(PUBLISHED.public_json())
    for obj in PUBLISHED.private_objects:
        assert obj.key not in public
    assert SHA not in public.replace(PUBLISHED.public_objects[0].sha256, "")
    assert "etag" not in public and "input_sha256" not in public and "split" not in public


def test_outcome_decides_liveness_not_status_names() -> None:
    assert PUBLISHED.live and not QUARANTINED.live
    assert FAILED.live  # a failed fetch keeps the public side it had
    # A status name that used to count as "published" does not make a record live.
    assert not QUARANTINED.with_changes(status="no_markers").live


def test_schema_status_enum_is_the_status_enum() -> None:
    schema = load_schema("manifest-record")
    assert set(schema["properties"]["status"]["enum"]) == {s.value for s in Status}


def test_plan_job_result_summary_and_commit_round_trip_through_their_schemas() -> None:
    jsonschema.validate(PLAN.to_json(), load_schema("plan-ref"))
    assert PlanRef.from_json(PLAN.to_json()) == PLAN
    job = PLAN.jobs()[1]
    jsonschema.validate(job.to_json(), load_schema("chunk-job"))
    assert ChunkJob.from_json(json.loads(json.dumps(job.to_json()))) == job
    counts = Counts.of([PUBLISHED, QUARANTINED, FAILED])
    result = ChunkResult(1, "staging/p/slug/parts/x/00001.jsonl", counts, 4, 0.25)
    jsonschema.validate(result.to_json(), load_schema("chunk-result"))
    assert ChunkResult.from_json(result.to_json()) == result
    summary = RunSummary(DAY, counts, False, True, "runs/p/slug/manifest.jsonl", SHA, True, 4)
    jsonschema.validate(summary.to_json(), load_schema("run-summary"))
    jsonschema.validate(summary.asset_extra(), load_schema("asset-extra"))
    assert RunSummary.from_json(summary.to_json()) == summary
    marker = CommitMarker(
        "runs/p/slug/manifest.jsonl", SHA, "runs/p/slug/manifest.private.jsonl", DAY, counts, "t"
    )
    jsonschema.validate(marker.to_json(), load_schema("commit"))
    assert CommitMarker.from_json(marker.to_json()) == marker
    header = PrivateHeader(SHA)
    jsonschema.validate(header.to_json(), load_schema("manifest-private"))
    assert PrivateHeader.from_json(header.to_json()) == header


def test_counts_add_up_per_outcome_status_and_action() -> None:
    counts = Counts.of([PUBLISHED, QUARANTINED, FAILED]) + Counts.of([PUBLISHED])
    assert dict(counts.outcomes) == {"published": 2, "quarantined": 1, "failed": 1}
    assert (counts.published, counts.quarantined, counts.failed, counts.articles) == (2, 1, 1, 4)
    assert dict(counts.statuses) == {"broken_marker": 1, "fetch_failed": 1, "ok": 2}
    assert dict(counts.actions) == {"retracted": 1, "written": 3}


def test_layout_one_records_are_read_with_their_outcome() -> None:
    legacy = {
        "article_id": "1" * 20,
        "source": "desk",
        "source_id": "a.txt",
        "timestamp": "2026-11-20T00:00:00Z",
        "status": "no_markers",
        "reason": "no paywall markers found",
        "keys": {"quarantine": ["quarantine/desk/a/input", "quarantine/desk/a/reason.json"]},
        "sha256": {"original": SHA, "objects": {"quarantine/desk/a/input": SHA}},
    }
    record = ManifestRecord.from_lines(legacy)
    assert record.layout == 1 and record.outcome is Outcome.QUARANTINED and not record.live
    published = legacy | {
        "status": "no_markers",
        "reason": None,
        "keys": {"free": ["free/desk/a.txt"], "meta": "meta/desk/a.json", "paid": []},
        "sha256": {"objects": {"free/desk/a.txt": SHA, "meta/desk/a.json": SHA}},
    }
    assert ManifestRecord.from_lines(published).outcome is Outcome.PUBLISHED  # all_free policy
    assert ManifestRecord.from_lines(legacy | {"status": "fetch_failed"}).outcome is Outcome.FAILED


def test_article_refs_round_trip() -> None:
    ref = ArticleRef("desk", "a.txt", "2026-11-20T00:00:00Z", "/x/a.txt", {"etag": "e"})
    assert ArticleRef.from_json(json.loads(json.dumps(ref.to_json()))) == ref


@pytest.mark.parametrize(
    "error",
    [
        errors.FetchError("HTTP 404", "http://site/x", retryable=False),
        errors.DecodeError("binary", "NUL bytes"),
        errors.PreconditionFailed("PUT lost", s3_code="PreconditionFailed", status=412),
        errors.StorageError("GET failed", s3_code="AccessDenied", status=403),
        errors.VerifyError("found", code=errors.ErrorCode.VERIFY_INCONCLUSIVE, findings=["x"]),
        errors.ConfigError("config/pipeline.yaml: storage.x: unknown key"),
        errors.PipelineError("chunk 3 is missing"),
        errors.WebhookError("webhook down", batch=1, batches=2),
        errors.SourceError("index unreadable"),
        errors.NotModified("http://site/x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_with_code_and_details(error: errors.PaywallError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.code, again.details, str(again)) == (error.code, error.details, str(error))
    assert isinstance(again, errors.PaywallError)


def test_error_codes_not_messages_decide() -> None:
    lost = errors.PreconditionFailed("whatever the server says", status=412)
    assert (
        isinstance(lost, errors.StorageError) and lost.code is errors.ErrorCode.PRECONDITION_FAILED
    )
    assert errors.FetchError("x", retryable=True).retryable
    assert not errors.FetchError("connection failed: anything").retryable
