"""Prometheus figures of the database, the file store and the imports, computed at scrape time (the request
figures are the process's own, in api/routes/ops.py; the delivery queue's in delivery/metrics.py).

    ymt_db_up                          1 when the database answered the scrape's queries, else 0
    ymt_db_query_seconds               how long the scrape's database queries took
    ymt_db_pool_checked_out            connections of this process's pool in use (a leak or a stall shows here)
    ymt_db_pool_size                   the pool's configured size
    ymt_projects{status}               projects by status
    ymt_blobs / ymt_blob_bytes         stored files and their bytes
    ymt_imports_total{kind}            imports run, by list kind
    ymt_import_last_timestamp_seconds  when the latest import ran (0: never)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from yimatong.core.context import App, aware
from yimatong.storage.models import Blob, ImportRun, Project

log = logging.getLogger("yimatong.metrics")


class OpsCollector:
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        yield from self._pool()
        start = time.perf_counter()
        try:
            with self.app.db.read() as session:
                statuses = session.execute(select(Project.status, func.count()).group_by(Project.status)).all()
                blobs, blob_bytes = session.execute(select(func.count(), func.coalesce(func.sum(Blob.size), 0))
                                                    .select_from(Blob)).one()
                imports = session.execute(select(ImportRun.kind, func.count()).group_by(ImportRun.kind)).all()
                last = session.execute(select(func.max(ImportRun.created_at))).scalar()
        except Exception:  # noqa: BLE001 - a scrape reports the database down, it does not fail
            log.warning("metrics: database unavailable", exc_info=True)
            yield GaugeMetricFamily("ymt_db_up", "Database answered the scrape", value=0)
            return
        yield GaugeMetricFamily("ymt_db_up", "Database answered the scrape", value=1)
        yield GaugeMetricFamily("ymt_db_query_seconds", "Duration of the scrape's database queries",
                                value=time.perf_counter() - start)
        projects = GaugeMetricFamily("ymt_projects", "Projects by status", labels=["status"])
        for status, n in sorted(statuses):
            projects.add_metric([str(status)], n)
        yield projects
        yield GaugeMetricFamily("ymt_blobs", "Stored files", value=blobs)
        yield GaugeMetricFamily("ymt_blob_bytes", "Bytes of stored files", value=blob_bytes)
        runs = CounterMetricFamily("ymt_imports", "Imports run, by list kind", labels=["kind"])
        for kind, n in sorted(imports):
            runs.add_metric([kind], n)
        yield runs
        yield GaugeMetricFamily("ymt_import_last_timestamp_seconds", "When the latest import ran",
                                value=aware(last).timestamp() if last else 0)

    def _pool(self) -> Iterator[Metric]:
        pool = self.app.db.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked_out):
            yield GaugeMetricFamily("ymt_db_pool_checked_out", "Connections of this process's pool in use",
                                    value=checked_out())
        if callable(size):
            yield GaugeMetricFamily("ymt_db_pool_size", "Configured size of this process's pool", value=size())


def exposition(app: App) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsCollector(app))
    return generate_latest(registry)
