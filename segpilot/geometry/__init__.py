"""Cameras, frame conventions, depth unprojection, patch positions, view selection (numpy only)."""
