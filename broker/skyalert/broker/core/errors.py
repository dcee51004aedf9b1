"""The server's exception hierarchy. Each edge (CLI, HTTP, pages) turns these into messages."""


class SkyalertError(Exception):
    """Base of every error skyalert raises on purpose; its message is meant for a person."""


class ConfigError(SkyalertError):
    """A setting is missing or invalid; the message names the environment variable."""


class KafkaUnavailable(SkyalertError):
    """Kafka did not answer at the configured bootstrap address."""


class LocalBrokerError(SkyalertError):
    """The local Apache Kafka (or tansu) broker could not be fetched or started."""


class DatabaseError(SkyalertError):
    """The database could not be reached or migrated."""


class MailError(SkyalertError):
    """A mail could not be handed to the SMTP server (or written to the outbox)."""


class SetupFetchError(SkyalertError):
    """Something fetched once at set-up (a schema package) could not be fetched or verified."""
