"""The history of imports and exports, import details and rollbacks."""
