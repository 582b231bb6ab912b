"""segpilot."""
