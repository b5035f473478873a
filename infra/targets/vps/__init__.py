"""The `vps` target: a Debian 12 server configured over SSH by Fabric (nginx, gunicorn,
systemd, PostgreSQL), created on EC2 or given as an existing host. See docs/vps.md.

Where the whole slice lives: here, `component.py` declares the stack (the server, its host key
and a `FabricRelease` that provisions and deploys over SSH; `mocks.py` answers its lookups
offline), `sandbox.py` is `shipways up vps` (a systemd container reached over real SSH),
`artifact.py` builds the wheelhouse the server installs from, `checks/` holds the testinfra
checks. What runs on the host, the same for `pulumi up` and the sandbox, is the project's
Fabric package in `ansible-free-scripts/` (tasks and host templates, usable with `fab` on its
own), which this slice calls through `fabric_api.py`; `nginx/` holds the nginx templates. The
slice's entry in `infra/targets/registry.py` names these parts.
"""
