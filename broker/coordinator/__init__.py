"""The coordinator blueprint."""
