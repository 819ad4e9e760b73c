"""Prometheus metrics. One registry for slabot's own counters; gauges that describe database
state (jobs by state) are computed at scrape time by the web app instead of being kept here."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
