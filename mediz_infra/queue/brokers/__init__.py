"""Brokers: the store behind a queue (Redis, or this process's memory)."""
