"""Delivery of notifications from the outbox: one module per channel, and the delivery loop."""
