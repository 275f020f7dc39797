"""An inbox bucket and prefix on an S3 server; ids are keys relative to the prefix.

A prefix is a folder: ``inbox`` lists ``inbox/...`` only, never ``inbox-other/...``. Ids are
made printable (:func:`paywall.articles.safe_id`); the key itself is kept as the locator.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from paywall.articles import Format, RawArticle, safe_id
from paywall.config import S3Source
from paywall.sources.base import (
    ArticleRef,
    FetchError,
    Interval,
    SourceError,
    date_from_text,
    iso,
    sort_refs,
)


class S3InboxSource:
    def __init__(self, settings: S3Source, client: Any) -> None:
        self.settings = settings
        self.name = settings.name
        self.client = client
        self._pattern = re.compile(settings.date_pattern)

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        bucket, prefix = self.settings.bucket, self.settings.prefix
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # a folder, not a string prefix of sibling folders
        refs = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue
                    relative = safe_id(key[len(prefix) :].lstrip("/"))
                    if self.settings.timestamp == "key":
                        moment = date_from_text(relative, self._pattern)
                    else:
                        moment = item["LastModified"]
                    if moment is None or (interval is not None and not interval.contains(moment)):
                        continue
                    refs.append(
                        ArticleRef(self.name, relative, iso(moment), key, {"etag": item["ETag"]})
                    )
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(
                f"source {self.name!r}: cannot list s3://{bucket}/{prefix}: {exc}"
            ) from exc
        return sort_refs(refs)

    def fetch(self, ref: ArticleRef, previous: dict[str, Any] | None = None) -> RawArticle:
        try:
            response = self.client.get_object(Bucket=self.settings.bucket, Key=ref.locator)
            data = response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise FetchError(f"s3://{self.settings.bucket}/{ref.locator}: {code}") from None
        except BotoCoreError as exc:
            raise FetchError(f"s3://{self.settings.bucket}/{ref.locator}: {exc}") from None
        return RawArticle(
            source=self.name,
            source_id=ref.source_id,
            data=data,
            format=Format(self.settings.format),
            content_type=response.get("ContentType"),
            published_at=ref.timestamp,
            origin={"etag": response.get("ETag")},
        )
