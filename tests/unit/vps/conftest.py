"""The VPS tasks live in ansible-free-scripts/; importing the loader puts them on sys.path."""

import infra.targets.vps.fabric_api  # noqa: F401 - side effect: `shipways_fabric` importable
