"""The files blueprint."""
