"""carewatch's small shared core: settings, the metric catalogue, common types, the registry and storage contract."""

__version__ = "0.1.0"
