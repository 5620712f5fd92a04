"""Settings for the test suite: production settings with test-only shortcuts."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-secret-key-not-for-any-deployment-0123")
os.environ.setdefault(
    "CONTACT_ENCRYPTION_KEYS", "dGVzdC1zdWl0ZS1jb250YWN0LWtleS1ub3Qtc2VjcmU="
)
os.environ.setdefault(
    "CONTACT_HASH_KEY", "test-suite-contact-hash-key-not-for-any-deployment"
)
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("SMS_BACKEND", "participants.sms.MemoryBackend")
os.environ.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

from studyportal.settings import *  # noqa: E402,F403
from studyportal.settings import STORAGES  # noqa: E402

# Fast hashing: tests create many users and log in often.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The live server speaks plain HTTP.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SMS_BACKEND = "participants.sms.MemoryBackend"
CELERY_TASK_ALWAYS_EAGER = False
