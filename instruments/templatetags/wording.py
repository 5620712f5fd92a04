"""Filters that show a definition's wording: ``{{ item.label|wording }}``.

Every text that comes from a definition goes through one of these in a template,
so the rule in ``instruments.wording`` is the only one that decides what is live.
"""

from django import template

from instruments import wording as rules

register = template.Library()


@register.filter
def wording(text):
    """The definition's text with only harmless formatting kept."""
    return rules.as_html(text)


@register.filter
def plain(text):
    """The definition's text without markup, escaped like any other text."""
    return rules.as_text(text)
