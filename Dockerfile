# One image for the web server, the Celery worker and Celery beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STUDYPORTAL_VAR_DIR=/srv/var

WORKDIR /srv/app
COPY pyproject.toml README.md ./
COPY studyportal ./studyportal
COPY participants ./participants
COPY instruments ./instruments
COPY analysis ./analysis
COPY studies ./studies
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install . \
    && DEBUG=0 SECRET_KEY=build-only-not-secret \
       CONTACT_ENCRYPTION_KEYS=YnVpbGQtb25seS1jb250YWN0LWtleS1ub3Qtc2VjcmU= \
       CONTACT_HASH_KEY=build-only-contact-hash-key-not-secret \
       EMAIL_URL=consolemail:// SMS_BACKEND=participants.sms.ConsoleBackend \
       PUBLIC_BASE_URL=https://build.invalid \
       python manage.py collectstatic --noinput \
    && useradd --system --home /srv studyportal \
    && mkdir -p /srv/var && chown -R studyportal /srv/var

USER studyportal
EXPOSE 8000
CMD ["gunicorn", "studyportal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "--logger-class", "studyportal.gunicorn_logging.RedactingLogger"]
