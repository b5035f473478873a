"""The `vps` slice: one Debian 12 server, nginx + gunicorn + systemd, set up over SSH by Fabric.

The whole slice (its entry in `infra/targets/registry.py` names these parts):
- `ansible-free-scripts/shipways_fabric/` - the Fabric package (`shipways-fabric`): provision,
  deploy, rollback, status and logs for any Debian 12 host, its settings model, and the host's
  file templates (`templates/`: systemd units, gunicorn, sshd, nftables, sudoers, scripts);
  `ansible-free-scripts/fabfile.py` is its `fab` command line. It imports nothing from here.
- `nginx/site.conf.j2` - the nginx site the Fabric package renders.
- `settings.py` - the stack's validated `VpsConfig` mapped onto the Fabric package's `Settings`.
- `sample_app.py` - what this project deploys: the sample app, built from the wheelhouse every
  target shares, labelled with its revision.
- `artifact.py` - the wheelhouse the server installs from, as the proof scans it.
- `component.py` - the Pulumi component (`pulumi up --stack vps`): EC2 or an existing host, then
  the Fabric provision + deploy.
- `sandbox.py` - `shipways up vps`: a local systemd container, provisioned and deployed the
  same way.
- `mocks.py` - what EC2 answers under the offline harness.
- `checks/` - testinfra checks of a provisioned host.
"""
