"""A definition's wording: harmless formatting kept, everything else dropped."""

from instruments.wording import as_html, as_text


def test_m3_formatting_is_kept_and_nothing_live():
    text = (
        "<b>Bold</b> <i>it</i><br><script>alert(1)</script>"
        '<img src=x onerror=alert(2)><span style="color:red">red</span>'
        '<a href="javascript:alert(3)">bad</a> <a href="https://example.org">good</a>'
    )
    assert as_html(text) == (
        "<b>Bold</b> <i>it</i><br>red"
        '<a rel="noopener noreferrer">bad</a> '
        '<a href="https://example.org" rel="noopener noreferrer">good</a>'
    )


def test_m3_text_outside_tags_stays_text():
    assert as_html("Pain < 5 & more") == "Pain &lt; 5 &amp; more"
    assert as_html("&lt;script&gt;") == "&lt;script&gt;"


def test_m3_plain_text_has_no_markup_and_is_left_to_the_page_to_escape():
    assert as_text("<b>Pain</b> &amp; more<br/>today<script>x</script>") == (
        "Pain & more today"
    )
    # Escaped markup is plain text: the page escapes it again when it shows it.
    assert as_text("&lt;b&gt;") == "<b>"


def test_empty_wording_is_empty():
    assert as_html(None) == "" and as_text("") == ""
