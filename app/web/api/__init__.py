"""The JSON API for integrators."""
