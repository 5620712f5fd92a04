"""Strict readers for settings that come from the environment.

django-environ parses URLs well but quietly accepts nonsense for booleans and time
zones; a typo in production configuration should stop the server at start-up, not
surface later as a wrong default.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

DEV_SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"

SUPPORTED_DATABASE_ENGINES = frozenset(
    {"django.db.backends.postgresql", "django.db.backends.sqlite3"}
)


def read_bool(environ_: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = environ_.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a yes/no value; use one of 1, 0, true, false."
    )


def read_int(environ_: Mapping[str, str], name: str, *, default: int) -> int:
    raw = environ_.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def _secret(
    environ_: Mapping[str, str], name: str, *, debug: bool, dev_default, hint: str
) -> str:
    """The variable as set; with DEBUG on and nothing set, ``dev_default``."""
    value = environ_.get(name, "")
    if value.strip():
        return value
    if debug:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off{hint}")


def read_secret_key(environ_: Mapping[str, str], *, debug: bool) -> str:
    return _secret(
        environ_,
        "SECRET_KEY",
        debug=debug,
        dev_default=DEV_SECRET_KEY,
        hint=" (for example a 50-character random string).",
    )


# Fixed so that a development database stays readable between runs; never used
# with DEBUG off.
DEV_CONTACT_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1jb250YWN0LWtleS0wMDA="
DEV_CONTACT_HASH_KEY = "insecure-development-hash-key-only-used-when-DEBUG-is-on"
MIN_HASH_KEY_LENGTH = 32
GENERATE_FERNET_KEY = (
    'python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


def read_contact_encryption_keys(
    environ_: Mapping[str, str], *, debug: bool
) -> list[str]:
    """Fernet keys, newest first: the first encrypts, every one decrypts."""
    raw = _secret(
        environ_,
        "CONTACT_ENCRYPTION_KEYS",
        debug=debug,
        dev_default=DEV_CONTACT_ENCRYPTION_KEY,
        hint=": one or more comma-separated Fernet keys, the current one first. "
        f"Make one with {GENERATE_FERNET_KEY}",
    )
    keys = _split_list(raw)
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"Key {position} of CONTACT_ENCRYPTION_KEYS is not a Fernet key "
                "(44 characters of URL-safe base64). Make one with "
                f"{GENERATE_FERNET_KEY}"
            ) from None
    return keys


def read_contact_hash_key(environ_: Mapping[str, str], *, debug: bool) -> str:
    """The secret behind the keyed hashes that make contact details searchable."""
    key = _secret(
        environ_,
        "CONTACT_HASH_KEY",
        debug=debug,
        dev_default=DEV_CONTACT_HASH_KEY,
        hint=f" (a random string of at least {MIN_HASH_KEY_LENGTH} characters, "
        "kept apart from SECRET_KEY).",
    ).strip()
    if len(key) < MIN_HASH_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"CONTACT_HASH_KEY is {len(key)} characters long; use a random string "
            f"of at least {MIN_HASH_KEY_LENGTH}."
        )
    return key


def read_database(environ_: Mapping[str, str], *, default_sqlite: Path) -> dict:
    url = environ_.get("DATABASE_URL") or f"sqlite:///{default_sqlite}"
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # environ raises several types for a malformed URL
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL: {exc}"
        ) from exc
    if config.get("ENGINE") not in SUPPORTED_DATABASE_ENGINES:
        raise ImproperlyConfigured(
            "DATABASE_URL must start with postgres:// or sqlite:///; "
            f"got engine {config.get('ENGINE')!r}."
        )
    if config["ENGINE"] == "django.db.backends.postgresql" and not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database.")
    return config


def read_broker_url(environ_: Mapping[str, str]) -> str:
    url = environ_.get("REDIS_URL", "").strip()
    if not url:
        return "filesystem://"
    if not url.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(
            f"REDIS_URL={url!r} must start with redis:// or rediss://."
        )
    return url


CONSOLE_EMAIL_BACKEND = "studyportal.mail.ConsoleEmailBackend"
CONSOLE_SMS_BACKEND = "participants.sms.ConsoleBackend"


def read_email(environ_: Mapping[str, str], *, debug: bool) -> dict:
    """EMAIL_* settings from EMAIL_URL; without it, the console only with DEBUG on."""
    url = _value(environ_, "EMAIL_URL")
    if not url:
        if not debug:
            raise ImproperlyConfigured(
                "EMAIL_URL must be set when DEBUG is off, for example "
                "submission://user:password@smtp.example.org:587 "
                "(consolemail:// writes messages to the log and sends nothing)."
            )
        url = "consolemail://"
    try:
        config = environ.Env.email_url_config(url)
    except Exception as exc:
        raise ImproperlyConfigured(f"EMAIL_URL is not a mail URL: {exc}") from exc
    if not config.get("EMAIL_BACKEND"):
        raise ImproperlyConfigured(f"EMAIL_URL={url!r} names no known mail scheme.")
    if url.startswith("consolemail:"):
        # Django's console backend prints whole messages; this one logs them
        # redacted, like every other log line.
        config["EMAIL_BACKEND"] = CONSOLE_EMAIL_BACKEND
    return config


def read_sms_backend(environ_: Mapping[str, str], *, debug: bool) -> str:
    """The class that sends text messages; by default the console one, with DEBUG."""
    backend = _value(environ_, "SMS_BACKEND")
    if backend:
        return backend
    if debug:
        return CONSOLE_SMS_BACKEND
    raise ImproperlyConfigured(
        "SMS_BACKEND must be set when DEBUG is off: participants.sms.HttpBackend "
        "with SMS_HTTP_URL and SMS_HTTP_TOKEN for a provider, or "
        f"{CONSOLE_SMS_BACKEND} to write messages to the log and send nothing."
    )


DEV_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def read_public_base_url(environ_: Mapping[str, str], *, debug: bool) -> str:
    """The site's public address, which links sent to participants start with."""
    url = _value(environ_, "PUBLIC_BASE_URL")
    if not url:
        if not debug:
            raise ImproperlyConfigured(
                "PUBLIC_BASE_URL must be set when DEBUG is off: the site's public "
                "address, such as https://portal.example.org, which links in "
                "messages to participants start with."
            )
        return DEV_PUBLIC_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"PUBLIC_BASE_URL={url!r} must start with https:// (or http://)."
        )
    return url.rstrip("/")


def read_str(environ_: Mapping[str, str], name: str, *, default: str) -> str:
    """The variable, or ``default`` when it is unset or empty."""
    return _value(environ_, name) or default


def _value(environ_: Mapping[str, str], name: str) -> str:
    # An empty value counts as unset: docker-compose passes `${NAME:-}` as "".
    return (environ_.get(name) or "").strip()


def is_time_zone_name(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_time_zone_name(name: str) -> None:
    if not is_time_zone_name(name):
        raise ValidationError(f"{name!r} is not a time zone such as Europe/London.")


def read_time_zone(environ_: Mapping[str, str]) -> str:
    name = environ_.get("TIME_ZONE") or "Europe/London"
    if not is_time_zone_name(name):
        raise ImproperlyConfigured(
            f"TIME_ZONE={name!r} is not an IANA time zone such as Europe/London."
        )
    return name


def read_proxy_ssl_header(environ_: Mapping[str, str]) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https" (the default) trusts a
    proxy's header to say the request came over HTTPS; an empty value trusts none."""
    raw = environ_.get("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https")
    if not raw.strip():
        return None
    header, sep, value = (part.strip() for part in raw.partition(":"))
    if not sep or not header or not value:
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={raw!r} is not 'Header-Name: value', "
            "for example 'X-Forwarded-Proto: https'."
        )
    return "HTTP_" + header.upper().replace("-", "_"), value


def read_list(environ_: Mapping[str, str], name: str, *, default: list[str]) -> list:
    raw = environ_.get(name)
    if raw is None:
        return default
    return _split_list(raw)


def _split_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]
