"""The PaaS target: one source bundle (Procfile, pinned requirements, platform hooks) run by
AWS Elastic Beanstalk in the cloud and by a Procfile runner on this machine. See docs/paas.md.

Where the whole slice lives, all here: `bundle.py` builds the zip (and is its artifact for the
proof's scan), `procfile.py` checks the Procfile, `component.py` declares the Beanstalk stack
(`mocks.py` answers its lookups offline), `sandbox.py` is `shipways up paas` (with
`processes.py` for its detached process groups), `checks/` holds the testinfra checks. The
app's own Procfile and `.platform` hooks ship from `app/`. The slice's entry in
`infra/targets/registry.py` names these parts.
"""
