"""Tests that play into the PulseAudio null sink and record its monitor."""
