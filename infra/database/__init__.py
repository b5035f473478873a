"""The managed PostgreSQL the paas and serverless stacks share: one Pulumi component, its mocks.

`component.ManagedPostgres` declares the database; `mocks` holds what AWS would answer for it
under the offline harness, merged into each target's own `mocks.py`.
"""
