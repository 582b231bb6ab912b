"""Datasets, metrics and batch evaluation."""
