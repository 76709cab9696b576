"""Screens pushed over the main one (each a module, with its own CSS)."""
