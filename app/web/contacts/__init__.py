"""The contacts list and contact pages."""
