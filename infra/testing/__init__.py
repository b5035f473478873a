"""Test helpers shared by the test suites (real services started for tests)."""
