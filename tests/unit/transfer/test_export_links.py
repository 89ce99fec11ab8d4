"""Signed download links: what is signed, and every way a link is refused."""

from __future__ import annotations

import pytest

from plugin.core.errors import Forbidden
from plugin.core.settings import Settings
from plugin.transfer.links import SignedLink, check_link, sign_link

SETTINGS = Settings(link_secret="s3cret", link_ttl_s=3600)
NOW = 1_800_000_000.0


def test_a_link_signs_the_job_and_its_expiry() -> None:
    link = sign_link(SETTINGS, "job1", now=NOW)
    assert (link.job_id, link.expires) == ("job1", int(NOW) + 3600)
    check_link(SETTINGS, "job1", str(link.expires), link.signature, now=NOW + 3599)
    assert sign_link(SETTINGS, "job2", now=NOW).signature != link.signature
    other = Settings(link_secret="another", link_ttl_s=3600)
    assert sign_link(other, "job1", now=NOW).signature != link.signature


@pytest.mark.parametrize(("job_id", "expires", "signature", "message"), [
    ("job1", None, "x", "incomplete"),
    ("job1", "1", None, "incomplete"),
    ("job1", "soon", "x", "not a time"),
    ("job2", "same", "same", "does not match"),  # another job's signature
    ("job1", "later", "same", "does not match"),  # a longer expiry
    ("job1", "same", "ùé\U0001d575", "does not match"),  # no HMAC is non-ASCII
])
def test_incomplete_tampered_and_foreign_links_are_refused(
        job_id: str, expires: str | None, signature: str | None, message: str) -> None:
    link = sign_link(SETTINGS, "job1", now=NOW)
    given = {"same": str(link.expires), "later": str(link.expires + 60)}.get(expires or "",
                                                                            expires)
    with pytest.raises(Forbidden, match=message):
        check_link(SETTINGS, job_id, given, link.signature if signature == "same" else signature,
                   now=NOW)


def test_an_expired_link_says_when_it_expired_and_names_no_route() -> None:
    link = sign_link(SETTINGS, "job1", now=NOW)
    with pytest.raises(Forbidden, match="expired at") as caught:
        check_link(SETTINGS, "job1", str(link.expires), link.signature, now=link.expires + 1)
    assert str(caught.value.details["expired_at"]).startswith("2027-")
    assert "/v1/" not in caught.value.message


def test_without_a_secret_links_are_signed_with_one_random_secret_per_process() -> None:
    first, second = Settings(), Settings(port=9999)
    assert first.link_key() == second.link_key() != Settings(link_secret="x").link_key()
    link = sign_link(first, "job1", now=NOW)
    check_link(second, "job1", str(link.expires), link.signature, now=NOW)
    assert "link_secret" not in repr(Settings(link_secret="hidden"))
    assert isinstance(link, SignedLink)
