"""Time as the core sees it: the injected clock and the cadence maths (slots in a client's zone)."""
