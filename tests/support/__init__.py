"""Test helpers shared by the suites (imported as ``support``)."""
