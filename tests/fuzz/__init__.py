"""Fuzzing the wire protocol: a property test against a real server and a fixed corpus."""
