"""The PaaS target: one source bundle (Procfile, pinned requirements, platform hooks) run by
AWS Elastic Beanstalk in the cloud and by a Procfile runner on this machine. See docs/paas.md.

Where the whole slice lives, all here: `bundle.py` builds the zip (and is its artifact for the
proof's scan), `procfile.py` checks the Procfile, `component.py` declares the Beanstalk stack
(`mocks.py` answers its lookups offline), `spec.py` holds what the stack and the local run
share (environment, instance count, deployment policy), `sandbox.py` is `shipways up paas`
(with `buildpack.py` for dependencies and the release step, `environment.py` for the Docker
stand-ins of the network, database, load balancer and instances, `fleet.py` for the
instances' web processes, `deployment.py` for the deployment policies and `processes.py` for
detached process groups), `checks/` holds the testinfra checks. The
app's own Procfile and `.platform` hooks ship from `app/`. The slice's entry in
`infra/targets/registry.py` names these parts.
"""
