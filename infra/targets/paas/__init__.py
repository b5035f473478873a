"""The PaaS target: one source bundle (Procfile, pinned requirements, platform hooks) run by
AWS Elastic Beanstalk in the cloud and by a Procfile runner on this machine.

`bundle.py` builds the zip, `procfile.py` checks the Procfile, `component.py` declares the
Beanstalk stack (`mocks.py` answers its lookups offline), `sandbox.py` is `shipways up paas`
(with `processes.py` for its detached process groups), `checks/` holds the testinfra checks.
"""
