"""Simulator adapters that produce Frames (Habitat conversion; embedded simulator)."""
