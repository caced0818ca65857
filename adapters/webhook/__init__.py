"""The smallest real adapter: POST each outbox message as canonical JSON to one URL."""
