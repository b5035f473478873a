"""The stack's VPS config, mapped onto the settings of the Fabric package.

The Fabric package validates its own `Settings` (it is also used on its own, with `fab`);
the toolkit validates the stack file into a `VpsConfig` and maps it here, so the Fabric
package never learns about stack files.
"""

from __future__ import annotations

from typing import Any

from shipways_fabric import Settings

from infra.config import VpsConfig


def fabric_settings(config: VpsConfig, **overrides: Any) -> Settings:
    """Settings for a stack's validated config, plus overrides (Settings' own keys)."""
    values: dict[str, Any] = config.model_dump(
        include={
            "app_name",
            "environment",
            "web_concurrency",
            "releases_to_keep",
            "domain",
            "letsencrypt_email",
        }
    )
    if config.ssh_public_key:
        values["deploy_public_keys"] = (config.ssh_public_key,)
    if config.host and not config.domain:
        values["tls_names"] = (config.host,)
    # A deploy waits for the app's readiness path, then for /version to name the release.
    values["health_path"] = config.app.readiness_path
    values["version_path"] = "/version" if config.app.serves_version else None
    return Settings.model_validate({**values, **overrides})
