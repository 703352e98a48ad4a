"""The vectorised numpy rule core, the alert lifecycle, routing and notifiers."""
