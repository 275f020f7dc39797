"""The OpenLineage provider sees plan/process/publish as operators that report datasets."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.openlineage.extractors.base import DefaultExtractor
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.sdk import dag

from paywall import airflow_adapter as adapter
from paywall.lineage import Dataset, Lineage


def test_a_lineage_task_reports_what_its_body_recorded() -> None:
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def lineage_probe() -> None:
        @adapter.lineage_task()
        def step() -> None:
            return None

        step()

    probe = lineage_probe()
    operator = probe.get_task("step")
    assert isinstance(operator, adapter.LineageOperator)
    assert ExtractorManager().get_extractor_class(operator) is DefaultExtractor
    assert operator.get_openlineage_facets_on_complete(None).inputs == []
    adapter.record_lineage(
        {"task": operator},
        Lineage((Dataset("s3://inbox", "drop/"),), (Dataset("s3://pub", "free/web/"),)),
    )
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://inbox", "drop/")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://pub", "free/web/")]
    assert operator.get_openlineage_facets_on_failure(None).outputs == lineage.outputs
    adapter.record_lineage({}, Lineage((), ()))  # no task in the context: nothing happens
