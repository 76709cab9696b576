"""talkterm-server --workers N: real HAProxy in front of real worker processes."""
