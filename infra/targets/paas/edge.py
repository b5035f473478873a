"""The PaaS front door: HTTPS on the load balancer, plain HTTP redirected to it.

- LoadBalanced with `certificateArn`: the Application Load Balancer gets a 443 listener
  serving that ACM certificate under a TLS 1.3/1.2-only policy, and a rule on its port-80
  listener answers every request with a 301 to the same URL over HTTPS. The rule is the
  balancer's own (not nginx's): it sits in front of the health checks' path untouched (they
  go to the instances directly) and needs no knowledge of the certificate in the bundle.
  Beanstalk option settings cannot express a redirect, so the rule is declared beside the
  environment, on the listener Beanstalk created (looked up by the balancer and port).
- LoadBalanced with `allowHttp: true` and no certificate: plain HTTP, on purpose, warned.
- SingleInstance: HTTP only. There is no load balancer to end TLS on, and ACM certificates
  are used only by AWS services such as load balancers and CloudFront: they can never be
  installed on an instance. The stack says so in a warning and in its `https` output.

Per-client rate limits live in the bundle's `.platform/nginx` files, which the platform's
nginx loads on every instance whatever the environment type.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import PaasConfig

SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only, forward secrecy
HTTPS_LISTENER = "aws:elbv2:listener:443"
SINGLE_INSTANCE_HTTP_ONLY = (
    "SingleInstance serves plain HTTP only: it has no load balancer to end TLS on, and ACM "
    "certificates cannot be installed on an instance. For HTTPS set environmentType: "
    "LoadBalanced and certificateArn (an ACM certificate for your domain)."
)
LOAD_BALANCED_HTTP_ONLY = (
    "allowHttp: true and no certificateArn: the load balancer serves plain HTTP only; "
    "set certificateArn to serve HTTPS and redirect HTTP to it."
)


def serves_https(config: PaasConfig) -> bool:
    return config.environment_type == "LoadBalanced" and config.certificate_arn is not None


def listener_settings(config: PaasConfig) -> list[tuple[str, str, str]]:
    """(namespace, option, value) for the load balancer's HTTPS listener, if it has one."""
    if not serves_https(config):
        return []
    assert config.certificate_arn is not None
    return [
        (HTTPS_LISTENER, "ListenerEnabled", "true"),
        (HTTPS_LISTENER, "Protocol", "HTTPS"),
        (HTTPS_LISTENER, "SSLCertificateArns", config.certificate_arn),
        (HTTPS_LISTENER, "SSLPolicy", SSL_POLICY),
    ]


def https_summary(config: PaasConfig) -> str:
    """What the `https` stack output says about how the environment is reached."""
    if serves_https(config):
        return (
            f"HTTPS on 443 ({SSL_POLICY}) with {config.certificate_arn}; HTTP redirected (301). "
            "The certificate names your domain: point a CNAME record at the environment's "
            "CNAME and use https://<your domain>."
        )
    if config.environment_type == "LoadBalanced":
        return LOAD_BALANCED_HTTP_ONLY
    return SINGLE_INSTANCE_HTTP_ONLY


def warn_if_plain_http(config: PaasConfig) -> None:
    if not serves_https(config):
        pulumi.log.warn(https_summary(config))


def redirect_http_to_https(
    name: str, environment: aws.elasticbeanstalk.Environment, parent: pulumi.Resource
) -> aws.lb.ListenerRule:
    """A 301 to HTTPS for every request reaching the balancer's port-80 listener."""
    balancer = environment.load_balancers.apply(lambda arns: (arns or [""])[0])
    http_listener = aws.lb.get_listener_output(
        load_balancer_arn=balancer, port=80, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    return aws.lb.ListenerRule(
        f"{name}-http-to-https",
        listener_arn=http_listener.arn,
        priority=1,
        actions=[
            {
                "type": "redirect",
                "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"},
            }
        ],
        conditions=[{"path_pattern": {"values": ["/*"]}}],
        opts=pulumi.ResourceOptions(parent=parent),
    )
