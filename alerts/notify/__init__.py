"""Notifier channels behind one interface (base.Notifier): websocket push now; webhook, email, MQTT to come."""
