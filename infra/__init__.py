"""Plumbing shared by the hub and the workers.

Settings, connections (NATS, PostgreSQL, Redis), migrations, JetStream
streams, the transactional outbox, the channel log, metrics, health endpoints
and logging. It imports `bilten.protocol` and nothing else of ours; hub and
workers build on it and never import each other.
"""
