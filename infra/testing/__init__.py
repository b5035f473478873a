"""Test helpers shared by the test suites: real services started for tests (PostgreSQL), and
the Pulumi engine's side of the project's plugins (how the CLI launches them, the dynamic
provider server and the policy pack driven over gRPC)."""
