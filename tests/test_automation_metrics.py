"""The runner's metrics, served in Prometheus' format."""

from __future__ import annotations

import socket
import urllib.request

import pytest

pytest.importorskip("prometheus_client")

from pyetwkit.automation.metrics import Metrics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_counters_are_served_and_summarised() -> None:
    m = Metrics()
    m.events.inc(10)
    m.matched.labels(rule="new-process").inc(3)
    m.actions.labels(action="notify", result="ok").inc(2)
    m.actions.labels(action="notify", result="failed").inc()
    m.duration.labels(action="notify").observe(0.25)
    summary = m.summary()
    assert summary["events_total"] == 10
    assert summary["rules_matched_total{rule=new-process}"] == 3
    assert summary["actions_total{action=notify,result=failed}"] == 1
    port = free_port()
    server, thread = m.serve(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            body = reply.read()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    text = body.decode()
    assert "events_total 10.0" in text
    assert 'rules_matched_total{rule="new-process"} 3.0' in text
    # Two runs never share counters.
    assert Metrics().summary()["events_total"] == 0
