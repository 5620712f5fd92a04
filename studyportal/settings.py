"""Settings, all read from the environment; README.md lists every variable."""

import datetime as dt
import os
from pathlib import Path

from django.utils.log import DEFAULT_LOGGING

from studyportal import config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STUDYPORTAL_VAR_DIR") or BASE_DIR / "var")

ENV = os.environ

DEBUG = config.read_bool(ENV, "DEBUG", default=False)
SECRET_KEY = config.read_secret_key(ENV, debug=DEBUG)
CONTACT_ENCRYPTION_KEYS = config.read_contact_encryption_keys(ENV, debug=DEBUG)
CONTACT_HASH_KEY = config.read_contact_hash_key(ENV, debug=DEBUG)
ALLOWED_HOSTS = config.read_list(
    ENV, "ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = config.read_list(ENV, "CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "simple_history",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "studyportal",
    "participants",
    "instruments",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "studyportal.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "studyportal.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "studyportal.current_study.WorkingStudyMiddleware",
    "studyportal.middleware.TwoStepSignInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks, so it sees the response of the login view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studyportal.urls"
WSGI_APPLICATION = "studyportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studyportal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": config.read_database(ENV, default_sqlite=VAR_DIR / "studyportal.sqlite3")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = config.read_int(ENV, "CONN_MAX_AGE", default=60)
# A kept connection is checked before a request uses it, so a PostgreSQL restart
# costs no more than the requests in flight at that moment.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATION = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATION}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATION}.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": f"{_VALIDATION}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATION}.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username and address never reach the password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Failed logins (django-axes, read by studyportal.logins.Delay): after
# AXES_FAILURE_LIMIT failures for one username from one address, that pair waits
# 1 minute, then 2, 4, ... up to AXES_COOLOFF_MINUTES before the next try; after
# LOGIN_USERNAME_FAILURE_LIMIT failures from all addresses together, the username
# waits the same way everywhere. Failures are forgotten after
# LOGIN_FAILURES_REMEMBERED_HOURS, and a successful login from an address
# forgets that address's. Attempts are kept in the database, so logins work
# with Redis down; an administrator lifts a delay by deleting the username's
# "Access attempts" in the admin.
AXES_ENABLED = config.read_bool(ENV, "AXES_ENABLED", default=True)
AXES_HANDLER = "studyportal.logins.Delay"
AXES_FAILURE_LIMIT = config.read_int(ENV, "AXES_FAILURE_LIMIT", default=5)
LOGIN_USERNAME_FAILURE_LIMIT = config.read_int(
    ENV, "LOGIN_USERNAME_FAILURE_LIMIT", default=20
)
LOGIN_LONGEST_DELAY = dt.timedelta(
    minutes=config.read_int(ENV, "AXES_COOLOFF_MINUTES", default=15)
)
AXES_COOLOFF_TIME = dt.timedelta(
    hours=config.read_int(ENV, "LOGIN_FAILURES_REMEMBERED_HOURS", default=24)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A try while waiting is refused before the password is checked, and neither
# counts as a failure nor makes the wait longer.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "studyportal.logins.lockout_response"
# studyportal.models.LoginEvent is the audit of logins; axes' own log would repeat it.
AXES_DISABLE_ACCESS_LOG = True
# The client address: REMOTE_ADDR unless TRUSTED_PROXY_COUNT proxies stand in front
# (1 for the TLS proxy before docker-compose). Then it is the entry the outermost
# proxy appended to X-Forwarded-For; anything a client wrote before it is ignored.
TRUSTED_PROXY_COUNT = config.read_int(ENV, "TRUSTED_PROXY_COUNT", default=0)
# Not strict: a client-written prefix must not void the header and leave every such
# client sharing the proxy's address.
IPWARE_STRICT = False
if TRUSTED_PROXY_COUNT > 0:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
else:
    AXES_IPWARE_PROXY_COUNT = None
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# Two-step sign-in (django-otp): staff may add an authenticator app, and then give
# a code from it after their password. STAFF_TWO_FACTOR_REQUIRED makes every
# signed-in user set one up before any other page opens.
STAFF_TWO_FACTOR_REQUIRED = config.read_bool(
    ENV, "STAFF_TWO_FACTOR_REQUIRED", default=False
)
OTP_TOTP_ISSUER = "StudyPortal"
# Administrators reset a lost device by deleting it; they never need its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = config.read_time_zone(ENV)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploads (consent scans) have no MEDIA_URL and no URL of their own: they are
# opened only through views that check who is asking and log it.
MEDIA_ROOT = VAR_DIR / "media"
# Built data files for investigators: outside MEDIA_ROOT, served only through the
# downloads view, which checks who is asking.
EXPORT_ROOT = VAR_DIR / "exports"
# Built files are deleted this many days after they are made; the log row stays.
EXPORT_KEEP_DAYS = config.read_int(ENV, "EXPORT_KEEP_DAYS", default=7)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Django bounds form fields but not uploaded files, which it writes to disk before
# any form can refuse them: no request may be larger than the largest upload (a
# 10 MB consent scan) with its form.
MAX_REQUEST_BYTES = 12 * 1024 * 1024

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, ... from EMAIL_URL.
globals().update(config.read_email(ENV, debug=DEBUG))
DEFAULT_FROM_EMAIL = config.read_str(
    ENV, "DEFAULT_FROM_EMAIL", default="StudyPortal <noreply@localhost>"
)
# Links in messages and letters point here; the site's public address.
PUBLIC_BASE_URL = config.read_public_base_url(ENV, debug=DEBUG)
SMS_BACKEND = config.read_sms_backend(ENV, debug=DEBUG)
SMS_HTTP_URL = config.read_str(ENV, "SMS_HTTP_URL", default="")
SMS_HTTP_TOKEN = config.read_str(ENV, "SMS_HTTP_TOKEN", default="")
SMS_FROM = config.read_str(ENV, "SMS_FROM", default="StudyPortal")

# Security. Production sits behind a TLS-terminating proxy; /healthz stays reachable
# over plain HTTP so container health checks do not follow a redirect.
SECURE_PROXY_SSL_HEADER = config.read_proxy_ssl_header(ENV)
SECURE_SSL_REDIRECT = config.read_bool(ENV, "SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = config.read_int(
    ENV, "SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
# Sessions end after SESSION_COOKIE_AGE seconds without a request, or when the
# browser closes: a clinic computer left unattended does not stay logged in.
SESSION_COOKIE_AGE = config.read_int(ENV, "SESSION_COOKIE_AGE", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# No inline script, handler or style attribute anywhere: static files only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Django logs the path of every 4xx response and the development server every
# request; a questionnaire path holds the participant's token, a search's query
# string what staff typed, and message backends the address they write to. Every
# handler, and the loggers with handlers of their own, redact them before writing.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "studyportal.log_redaction.RedactPersonalData"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": DEFAULT_LOGGING["formatters"]["django.server"],
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
        "django.server": {
            **DEFAULT_LOGGING["handlers"]["django.server"],
            "filters": ["redact"],
        },
    },
    "loggers": {
        "django.request": {"filters": ["redact"]},
        "django.server": {
            **DEFAULT_LOGGING["loggers"]["django.server"],
            "filters": ["redact"],
        },
        # django-axes announces its configuration at every start; lockouts and
        # failures are audited as LoginEvent rows instead.
        "axes": {"level": "WARNING"},
    },
    "root": {
        "handlers": ["console"],
        "level": config.read_str(ENV, "LOG_LEVEL", default="INFO"),
    },
}

# The cache holds rate-limit counters, so all web processes must share it.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": ENV["REDIS_URL"],
            # A dead Redis must answer quickly: the rate limit fails open on errors.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if ENV.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery. Without REDIS_URL the broker is kombu's filesystem transport, so the demo
# runs a real worker and beat with nothing else installed.
CELERY_BROKER_URL = config.read_broker_url(ENV)
if CELERY_BROKER_URL == "filesystem://":
    _CELERY_DIR = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_CELERY_DIR / "queue"),
        "data_folder_out": str(_CELERY_DIR / "queue"),
        "control_folder": str(_CELERY_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{_CELERY_DIR / 'results'}"
    # The transport and the result backend expect their folders to exist.
    for _folder in ("queue", "control", "results"):
        (_CELERY_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
    CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 24 * 60 * 60
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = config.read_int(ENV, "CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Each entry's interval can be changed from the environment; `expires` stays below
# the interval so a backlog never runs the same job twice over.
_SESSION_CLEANUP_SECONDS = config.read_int(
    ENV, "SCHEDULE_CLEAR_SESSIONS_SECONDS", default=24 * 60 * 60
)
_PLAN_MESSAGES_SECONDS = config.read_int(
    ENV, "SCHEDULE_PLAN_MESSAGES_SECONDS", default=5 * 60
)
_VISIT_STATUS_SECONDS = config.read_int(
    ENV, "SCHEDULE_VISIT_STATUS_SECONDS", default=60 * 60
)
_REMOVE_DOWNLOADS_SECONDS = config.read_int(
    ENV, "SCHEDULE_REMOVE_DOWNLOADS_SECONDS", default=60 * 60
)
_TIDY_WAITING_WORK_SECONDS = config.read_int(
    ENV, "SCHEDULE_TIDY_WAITING_WORK_SECONDS", default=5 * 60
)
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "studyportal.tasks.clear_expired_sessions",
        "schedule": _SESSION_CLEANUP_SECONDS,
        "options": {"expires": _SESSION_CLEANUP_SECONDS * 0.9},
    },
    "plan-and-send-messages": {
        "task": "participants.tasks.plan_and_send",
        "schedule": _PLAN_MESSAGES_SECONDS,
        "options": {"expires": _PLAN_MESSAGES_SECONDS * 0.9},
    },
    "update-visit-statuses": {
        "task": "participants.tasks.update_visit_statuses",
        "schedule": _VISIT_STATUS_SECONDS,
        "options": {"expires": _VISIT_STATUS_SECONDS * 0.9},
    },
    "remove-old-downloads": {
        "task": "analysis.tasks.remove_old_downloads",
        "schedule": _REMOVE_DOWNLOADS_SECONDS,
        "options": {"expires": _REMOVE_DOWNLOADS_SECONDS * 0.9},
    },
    "tidy-waiting-analysis-work": {
        "task": "analysis.tasks.tidy_waiting_work",
        "schedule": _TIDY_WAITING_WORK_SECONDS,
        "options": {"expires": _TIDY_WAITING_WORK_SECONDS * 0.9},
    },
}
