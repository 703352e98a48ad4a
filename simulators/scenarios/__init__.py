"""The scenario library: incidents injected into simulated residents, each with its ground truth."""
