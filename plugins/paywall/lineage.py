"""OpenLineage datasets of each step, by the OpenLineage naming conventions (Airflow-free).

- a local folder: namespace ``file://<host name>``, name the absolute path;
- S3: namespace ``s3://<bucket>``, name the key or prefix;
- a web index: namespace ``<scheme>://<host>[:<port>]``, name the path: never the userinfo
  nor the query (either may carry a token; a lineage backend is read by many).

The plan step reads the sources and writes the plan (private staging); a chunk reads the
sources and the plan and writes the free, meta, paid and quarantine prefixes of its sources
and its manifest part; publish reads the parts and writes the private and public manifests
and the commit marker. Names and keys only: a paid object's key may appear, its text never.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from paywall.config import HttpSource, LocalSource, S3Source, Settings
from paywall.layout import Layout

__all__ = ["Dataset", "Lineage", "plan_lineage", "process_lineage", "publish_lineage"]


@dataclass(frozen=True, slots=True)
class Dataset:
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Lineage:
    inputs: tuple[Dataset, ...]
    outputs: tuple[Dataset, ...]


def s3(bucket: str, key: str) -> Dataset:
    return Dataset(f"s3://{bucket}", key)


def source_dataset(settings: Settings, name: str) -> Dataset:
    source = settings.source(name)
    if isinstance(source, LocalSource):
        return Dataset(f"file://{socket.gethostname()}", str(source.path))
    if isinstance(source, S3Source):
        prefix = source.prefix.strip("/")
        return s3(source.bucket, f"{prefix}/" if prefix else "/")
    assert isinstance(source, HttpSource)
    parts = urlsplit(source.index_url)
    authority = parts.netloc.rsplit("@", 1)[-1]  # never userinfo
    return Dataset(f"{parts.scheme}://{authority}", parts.path or "/")  # never the query


def _sources(settings: Settings, names: Iterable[str] | None) -> list[str]:
    return sorted(names) if names else sorted(s.name for s in settings.sources)


def plan_lineage(
    settings: Settings, layout: Layout, sources: Iterable[str] | None, plan_key: str | None
) -> Lineage:
    names = _sources(settings, sources)
    outputs = (s3(layout.private_bucket, plan_key),) if plan_key else ()
    return Lineage(tuple(source_dataset(settings, n) for n in names), outputs)


def process_lineage(
    settings: Settings, layout: Layout, sources: Iterable[str], plan_key: str, part_key: str
) -> Lineage:
    names = _sources(settings, sources)
    inputs = [source_dataset(settings, n) for n in names] + [s3(layout.private_bucket, plan_key)]
    outputs = []
    for name in names:
        outputs += [
            s3(layout.public_bucket, f"free/{name}/"),
            s3(layout.public_bucket, f"meta/{name}/"),
            s3(layout.private_bucket, f"paid/{name}/"),
            s3(layout.private_bucket, f"quarantine/{name}/"),
        ]
    outputs.append(s3(layout.private_bucket, part_key))
    return Lineage(tuple(inputs), tuple(outputs))


def publish_lineage(layout: Layout, part_keys: Iterable[str], manifest_key: str | None) -> Lineage:
    inputs = tuple(s3(layout.private_bucket, k) for k in sorted(part_keys))
    if manifest_key is None:
        return Lineage(inputs, ())
    return Lineage(
        inputs,
        (
            s3(layout.private_bucket, layout.private_manifest(manifest_key)),
            s3(layout.public_bucket, manifest_key),
            s3(layout.public_bucket, layout.commit_marker(manifest_key)),
        ),
    )
