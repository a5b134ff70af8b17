"""The contract between the core and the platform adapters: normalized messages and the Adapter protocol."""
