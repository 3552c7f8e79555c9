"""Sample files and hypothesis strategies, reusable by tests, benchmarks and the demo.

``nd2kit.testing.strategies`` needs ``hypothesis`` (the ``test`` extra).
"""
