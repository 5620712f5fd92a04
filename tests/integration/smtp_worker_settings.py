"""The test settings, with email sent the way production sends it: by EMAIL_URL.

``tests.settings`` keeps mail in memory, which a worker process cannot share with
the test; a worker started with these settings talks SMTP to the address given.
"""

import os

from studyportal import config
from tests.settings import *  # noqa: F403

globals().update(config.read_email(os.environ, debug=False))
