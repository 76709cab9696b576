"""Screens pushed over the main one: the conversation list and its small prompts."""
