"""Relationship signals: a client's history through the detectors, the alert policy, charts and digests (pure)."""
