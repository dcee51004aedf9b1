"""Broker-side settings that make Apache Kafka trust our tokens (KIP-768) and enforce ACLs.

Used for the local Apache Kafka (``skyalert up``, tests); ops/kafka/ shows the same for a real
cluster, with the https JWKS URL instead of the local file.
"""

from __future__ import annotations

from skyalert.auth.keys import prepare_jwks_file
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import ClientListener

#: The client listener's name (upper case in ``listeners``, lower case in property prefixes).
LISTENER = "SASL"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
#: Named explicitly: Kafka 4.1's default (DefaultJwtValidator) falls back to ClientJwtValidator
#: in the broker, which reads the claims without checking the signature against the JWKS.
JWT_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
#: Re-authenticate at least this often; a connection never outlives its token either way.
REAUTH_MS = 600_000


def oauth_listener(settings: Settings, jwks_url: str | None = None) -> ClientListener:
    """A ``SASL_PLAINTEXT`` listener with OAUTHBEARER validated against our JWKS; the node
    itself adds the authorizer and our services' one super user (kafka_node.py).
    ``jwks_url`` defaults to the file our code writes."""
    url = jwks_url or prepare_jwks_file(settings).as_uri()
    prefix = f"listener.name.{LISTENER.lower()}"
    return ClientListener(
        name=LISTENER,
        listeners={LISTENER: "SASL_PLAINTEXT"},
        properties={
            f"{prefix}.sasl.enabled.mechanisms": "OAUTHBEARER",
            f"{prefix}.oauthbearer.sasl.jaas.config": f"{LOGIN_MODULE} required ;",
            f"{prefix}.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
            "sasl.oauthbearer.jwt.validator.class": JWT_VALIDATOR,
            "sasl.oauthbearer.jwks.endpoint.url": url,
            "sasl.oauthbearer.expected.issuer": settings.base_url,
            "sasl.oauthbearer.expected.audience": settings.token_audience,
            "sasl.oauthbearer.sub.claim.name": "sub",
            "sasl.oauthbearer.scope.claim.name": "scope",
            "connections.max.reauth.ms": str(REAUTH_MS),
        },
        jvm_options=(f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={url}",),
    )
