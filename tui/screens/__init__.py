"""Screens pushed over the main one: the conversation list, its small prompts, the settings."""
