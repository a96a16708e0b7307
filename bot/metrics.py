"""Prometheus metrics in the text exposition format, without a client library: a few counters and
histograms are all Confide needs, and the format is small and stable."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0)
SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    def __init__(self, buckets: Iterable[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [
            f'{name}_bucket{{{labels}{sep}le="{b}"}} {c}'
            for b, c in zip(self.buckets, self.counts, strict=True)
        ]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.total}", f"{name}_count{suffix} {self.count}"]
        return out


class Metrics:
    """Process-local metrics; each replica exposes its own, as Prometheus expects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.ack_latency: dict[str, Histogram] = {}
        self.sweep_duration = Histogram(SWEEP_BUCKETS)
        self.sweep_items = 0
        self.sweeps = 0
        self.deliveries: dict[str, int] = defaultdict(int)

    def observe_request(self, kind: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.requests[(kind, outcome)] += 1
            self.ack_latency.setdefault(kind, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_sweep(self, seconds: float, items: int) -> None:
        with self._lock:
            self.sweep_duration.observe(seconds)
            self.sweep_items += items
            self.sweeps += 1

    def observe_delivery(self, outcome: str) -> None:
        with self._lock:
            self.deliveries[outcome] += 1

    def render(self, *, outbox_backlog: int, outbox_oldest_age: float) -> str:
        with self._lock:
            lines = [
                "# HELP confide_requests_total Slack requests by kind and outcome.",
                "# TYPE confide_requests_total counter",
                *(
                    f'confide_requests_total{{kind="{k}",outcome="{o}"}} {n}'
                    for (k, o), n in sorted(self.requests.items())
                ),
                "# HELP confide_ack_latency_seconds Time from receiving a Slack request to answering it.",
                "# TYPE confide_ack_latency_seconds histogram",
            ]
            for kind, histogram in sorted(self.ack_latency.items()):
                lines += histogram.lines("confide_ack_latency_seconds", f'kind="{kind}"')
            lines += [
                "# HELP confide_outbox_backlog Messages waiting to be delivered.",
                "# TYPE confide_outbox_backlog gauge",
                f"confide_outbox_backlog {outbox_backlog}",
                "# HELP confide_outbox_oldest_age_seconds Age of the oldest undelivered message.",
                "# TYPE confide_outbox_oldest_age_seconds gauge",
                f"confide_outbox_oldest_age_seconds {outbox_oldest_age}",
                "# HELP confide_deliveries_total Delivery attempts by outcome.",
                "# TYPE confide_deliveries_total counter",
                *(
                    f'confide_deliveries_total{{outcome="{o}"}} {n}'
                    for o, n in sorted(self.deliveries.items())
                ),
                "# HELP confide_sweep_duration_seconds Duration of scheduler sweeps.",
                "# TYPE confide_sweep_duration_seconds histogram",
                *self.sweep_duration.lines("confide_sweep_duration_seconds"),
                "# HELP confide_sweep_items_total Due items handled by sweeps (each nudge item, card "
                "update and digest).",
                "# TYPE confide_sweep_items_total counter",
                f"confide_sweep_items_total {self.sweep_items}",
            ]
        return "\n".join(lines) + "\n"


def request_kind(body: dict) -> str:
    """A low-cardinality label for a Slack request: never user text, only its type."""
    if "command" in body:
        return f"command:{str(body['command'])[:32]}"
    kind = str(body.get("type") or "unknown")
    if kind == "event_callback":
        return f"event:{str((body.get('event') or {}).get('type', 'unknown'))[:40]}"
    return kind[:40]
