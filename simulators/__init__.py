"""Simulated wearables and home sensors. They know only the wire protocol (docs/protocol.md) and its vocabulary
(carewatch.catalog): what they publish goes through exactly the path a real device's messages take."""
