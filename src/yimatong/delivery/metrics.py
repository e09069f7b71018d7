"""Prometheus figures of the delivery queue, computed from the database at scrape time: the same answer from
every `ymt serve` process and whatever number of `ymt worker` processes deliver (their counters are rows in
the database, not in one process's memory).

    ymt_webhook_pending{subscription}             undelivered deliveries waiting (state pending)
    ymt_webhook_parked{subscription}              deliveries parked after running out of retries
    ymt_webhook_oldest_pending_seconds{subscription}  age of the oldest undelivered delivery
    ymt_webhook_delivered_total{subscription}     deliveries a receiver accepted (2xx)
    ymt_webhook_failed_attempts_total{subscription}  attempts that failed (non-2xx, timeout, refused target…)
    ymt_webhook_subscriptions{state}              subscriptions by state (active, paused, parked, deleted)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yimatong.core.context import App, aware, now
from yimatong.storage.models import Counter, Delivery, Subscription


def figures(session: Session) -> dict[str, dict[str, float]]:
    """Every figure by name, then by label value (subscription id or state). Each query is one index range
    per subscription (`ix_deliveries_sub_state`); the counters are a few rows per subscription."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    t = now()
    subs = session.execute(select(Subscription.id, Subscription.active, Subscription.paused,
                                  Subscription.parked)).all()
    for sid, active, paused, parked in subs:
        state = "deleted" if not active else "paused" if paused else "parked" if parked else "active"
        out["subscriptions"][state] = out["subscriptions"].get(state, 0) + 1
        label = str(sid)
        for name in ("pending", "parked"):
            out[name][label] = session.execute(select(func.count()).select_from(Delivery).where(
                Delivery.subscription_id == sid, Delivery.state == name)).scalar_one()
        oldest = session.execute(select(Delivery.created_at).where(
            Delivery.subscription_id == sid, Delivery.state == "pending").order_by(Delivery.seq).limit(1)).scalar()
        out["oldest_pending_seconds"][label] = (t - aware(oldest)).total_seconds() if oldest else 0.0
        out["delivered_total"].setdefault(label, 0)
        out["failed_attempts_total"].setdefault(label, 0)
    for scope, value in session.execute(select(Counter.scope, Counter.value).where(
            Counter.scope.like("webhook.%"))):
        _, outcome, sub, _shard = scope.split(".")
        name = "delivered_total" if outcome == "done" else "failed_attempts_total"
        out[name][sub] = out[name].get(sub, 0) + value
    return out


HELP = {
    "pending": "Undelivered webhook deliveries waiting to be sent",
    "parked": "Webhook deliveries parked after running out of retries",
    "oldest_pending_seconds": "Age of the oldest pending webhook delivery",
    "delivered_total": "Webhook deliveries accepted by their receiver",
    "failed_attempts_total": "Webhook delivery attempts that failed",
    "subscriptions": "Webhook subscriptions by state",
}


class QueueCollector:
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        with self.app.db.read() as session:
            data = figures(session)
        for name, text in HELP.items():
            label = "state" if name == "subscriptions" else "subscription"
            if name.endswith("_total"):
                family: Metric = CounterMetricFamily(f"ymt_webhook_{name[:-6]}", text, labels=[label])
            else:
                family = GaugeMetricFamily(f"ymt_webhook_{name}", text, labels=[label])
            for value, figure in sorted(data.get(name, {}).items()):
                family.add_metric([value], figure)  # type: ignore[attr-defined]
            yield family


def exposition(app: App) -> bytes:
    """The queue's figures in the Prometheus text format, to append to the process's own metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(app))
    return generate_latest(registry)
