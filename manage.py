#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyportal.settings")
    # manage.py is the developer's entry point, so it runs in development mode
    # unless told otherwise; the web server (wsgi.py) and the Celery worker stay
    # strict, and production sets DEBUG=0 for its manage.py commands too.
    os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
