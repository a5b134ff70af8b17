"""Handling events: inbound messages, the check-in lifecycle and housekeeping, each one transaction."""
