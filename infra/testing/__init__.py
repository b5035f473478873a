"""Test helpers shared by the test suites: real services started for tests (PostgreSQL, an
nginx proxy), the bounded request loop and the releases the zero-downtime tests deploy, and
the Pulumi engine's side of the project's plugins (how the CLI launches them, the dynamic
provider server and the policy pack driven over gRPC)."""
