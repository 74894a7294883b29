"""NATS JetStream: connection, streams, transactional outbox, idempotent consumers."""
