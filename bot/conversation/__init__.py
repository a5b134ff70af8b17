"""The check-in conversation: question sets, reading replies, message texts and the pure engine."""
