"""Prometheus metrics of the pipeline and of the API itself.

Pipeline state is read from the database at each scrape (a collector); request counts and
latencies are counted by a middleware. Each application has its own registry.

=============================================  =========  ==================================
metric                                         type       meaning
=============================================  =========  ==================================
``contimg_queue_depth``                        gauge      job items pending or running
``contimg_job_items{status}``                  gauge      job items by status
``contimg_jobs{status}``                       gauge      batch jobs by status
``contimg_photometry_latency_seconds``         summary    registration → photometry
                                                          completed (count, sum)
``contimg_photometry_latency_recent_seconds``  gauge      quantile 0.5/0.9/1 of the last
                                                          1000 completions
``contimg_database_up``                        gauge      1 when the database answered
``contimg_http_requests_total``                counter    requests by method, route, status
``contimg_http_request_duration_seconds``      histogram  request latency by method, route
=============================================  =========  ==================================
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from dsa110_contimg.database.registry import photometry_latency_stats
from dsa110_contimg.jobs.service import ACTIVE_ITEM_STATES, item_counts, job_counts

__all__ = ["PipelineCollector", "install_metrics"]

log = logging.getLogger(__name__)


class PipelineCollector:
    """Queue depth, jobs by status and photometry latency, read at each scrape."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterator[Metric]:
        """The metric families (only ``contimg_database_up 0`` when the database fails)."""
        up = GaugeMetricFamily("contimg_database_up", "1 when the database answered the scrape.")
        try:
            items = item_counts(url=self.url)
            jobs = job_counts(url=self.url)
            latency = photometry_latency_stats(url=self.url)
        except SQLAlchemyError as exc:
            log.warning("metrics: database query failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("contimg_queue_depth", "Job items pending or running.")
        depth.add_metric([], sum(items.get(s, 0) for s in ACTIVE_ITEM_STATES))
        yield depth
        by_item = GaugeMetricFamily("contimg_job_items", "Job items by status.", labels=["status"])
        for status, n in sorted(items.items()):
            by_item.add_metric([status], n)
        yield by_item
        by_job = GaugeMetricFamily("contimg_jobs", "Batch jobs by status.", labels=["status"])
        for status, n in sorted(jobs.items()):
            by_job.add_metric([status], n)
        yield by_job
        summary = SummaryMetricFamily(
            "contimg_photometry_latency_seconds",
            "Seconds from a product's registration to its completed photometry.",
        )
        summary.add_metric([], count_value=int(latency["count"]), sum_value=latency["sum_s"])
        yield summary
        recent = GaugeMetricFamily(
            "contimg_photometry_latency_recent_seconds",
            "Registration-to-photometry latency over the last 1000 completions, by quantile.",
            labels=["quantile"],
        )
        for quantile, key in (("0.5", "p50_s"), ("0.9", "p90_s"), ("1", "max_s")):
            if math.isfinite(latency[key]):
                recent.add_metric([quantile], latency[key])
        yield recent


def install_metrics(app: FastAPI, url: str) -> CollectorRegistry:
    """Give ``app`` a metrics registry with the pipeline collector and request metrics."""
    registry = CollectorRegistry()
    registry.register(PipelineCollector(url))
    requests = Counter(
        "contimg_http_requests",
        "HTTP requests by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    duration = Histogram(
        "contimg_http_request_duration_seconds",
        "HTTP request latency by method and route.",
        ["method", "route"],
        registry=registry,
    )

    @app.middleware("http")
    async def _count(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        duration.labels(request.method, template).observe(time.perf_counter() - start)
        requests.labels(request.method, template, str(response.status_code)).inc()
        return response

    return registry
