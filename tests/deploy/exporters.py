"""The third-party exporters' metrics that docker/'s dashboard and alerts may query.

Our own metric names come from server/metrics.py's registry; the exporters' cannot (they are Go
programs in other images), so each name used is listed here by hand, under the Prometheus job
that scrapes its exporter (docker/prometheus/prometheus.yml). A query may name one of these only
from its job (``pg_up{job="redis"}`` is a fault), and our own metrics only from our jobs.

To use another exporter metric: check its name and labels in the exporter's documentation or
its /metrics output for the pinned image, then add it here. Sources, for the pinned versions:

- ``postgres``: quay.io/prometheuscommunity/postgres-exporter (collectors ``database``,
  ``stat_database``, ``settings``; https://github.com/prometheus-community/postgres_exporter).
  Its pg_stat_database counters carry no ``_total`` suffix.
- ``redis``: oliver006/redis_exporter (https://github.com/oliver006/redis_exporter).
"""

from __future__ import annotations

from collections.abc import Mapping

# job -> metric name -> the labels the exporter puts on it (Prometheus adds job and instance).
EXPORTER_METRICS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "postgres": {
        "pg_up": frozenset(),
        "pg_stat_database_numbackends": frozenset({"datid", "datname"}),
        "pg_stat_database_xact_commit": frozenset({"datid", "datname"}),
        "pg_stat_database_xact_rollback": frozenset({"datid", "datname"}),
        "pg_database_size_bytes": frozenset({"datname"}),
        "pg_settings_max_connections": frozenset(),
    },
    "redis": {
        "redis_up": frozenset(),
        "redis_memory_used_bytes": frozenset(),
        "redis_memory_max_bytes": frozenset(),
        "redis_connected_clients": frozenset(),
        "redis_blocked_clients": frozenset(),
        "redis_commands_processed_total": frozenset(),
    },
}

EXPORTER_JOBS = frozenset(EXPORTER_METRICS)


def exporter_job(metric: str) -> str | None:
    """The exporter job that exposes ``metric``, None when no listed exporter does."""
    for job, metrics in EXPORTER_METRICS.items():
        if metric in metrics:
            return job
    return None
