"""Vendor API imitations: each maps an HTTP request onto the world and answers in the vendor's shape."""
