"""Widgets of the talkterm app."""
