"""How the bot reports on itself: log lines (text or JSON), Prometheus metrics, and a health and metrics server."""
