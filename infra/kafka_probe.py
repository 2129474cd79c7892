"""Asks a Kafka cluster whether it answers, with kafka-python."""

from __future__ import annotations

from kafka import KafkaAdminClient


def broker_count(bootstrap: str, timeout_ms: int = 5000) -> int:
    """How many brokers the cluster's metadata lists; raises when nothing answers."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="casebus-probe",
        request_timeout_ms=timeout_ms,
    )
    try:
        return len(admin.describe_cluster()["brokers"])
    finally:
        admin.close()
