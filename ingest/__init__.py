"""MQTT subscription, decoding and validation, batching, and durable writes to storage."""
