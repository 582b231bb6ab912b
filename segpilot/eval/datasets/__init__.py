"""Dataset readers and writers (ScanNet export layout)."""
