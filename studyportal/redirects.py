"""Where to send someone back to, from a ``next`` value a browser sent."""

from django.utils.http import url_has_allowed_host_and_scheme


def own_path(request, url: str) -> str:
    """``url`` if it is a path on this site, else "".

    Only a path counts: anything else would be another site, or be taken by
    ``redirect()`` for a URL pattern's name.
    """
    safe = url.startswith("/") and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if safe else ""
