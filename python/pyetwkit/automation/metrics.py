"""An automation run's metrics, in Prometheus' exposition format through
prometheus_client (the ``automation`` extra), each run with a registry of its own."""

from __future__ import annotations

from typing import Any

try:
    import prometheus_client as prom
except ImportError:  # pragma: no cover - the extra is not installed
    prom = None  # type: ignore[assignment]

__all__ = ["Metrics", "prom"]


class Metrics:
    """The counters and histograms of one run."""

    def __init__(self) -> None:
        if prom is None:
            raise RuntimeError("metrics need prometheus_client: pip install 'pyetwkit[automation]'")
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.events = prom.Counter("events_total", "Events the runner received", registry=r)
        self.dropped = prom.Counter(
            "events_dropped_total", "Events lost: queue drops and ETW's own losses", registry=r
        )
        self.evaluated = prom.Counter(
            "rules_evaluated_total", "Rule evaluations (events times rules)", registry=r
        )
        self.matched = prom.Counter(
            "rules_matched_total", "Events a rule matched", ["rule"], registry=r
        )
        self.actions = prom.Counter(
            "actions_total", "Actions run, by result", ["action", "result"], registry=r
        )
        self.duration = prom.Histogram(
            "action_duration_seconds", "How long actions ran", ["action"], registry=r
        )
        self.latency = prom.Histogram(
            "processing_latency_seconds",
            "From the event's time to its action's start",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return bytes(prom.generate_latest(self.registry))

    def serve(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Serves the metrics over HTTP (local only unless ``addr`` says otherwise)."""
        return prom.start_http_server(port, addr=addr, registry=self.registry)

    def summary(self) -> dict[str, float]:
        """Every sample's value by its name and labels, for ``pyetwkit run --stats``."""
        out: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out
