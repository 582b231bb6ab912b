"""Pruning methods behind one `Pruner` protocol and a name registry (see registry.py)."""
