"""Where a webhook may send: public addresses only, unless told otherwise.

A webhook URL is checked twice. When it is configured (:func:`check_url`),
its host is refused if it is an address that is not public — written any
way a resolver would read it: ``127.1``, ``2130706433``, ``0x7f.1``,
``[::ffff:127.0.0.1]`` — or a name that can only be local (``localhost``,
``*.internal``, a name without a dot, a cloud metadata name). When a
delivery is sent, every address the name resolves to is checked again and
the connection goes only to the addresses checked
(:mod:`plugin.crm.resolver`), so a name that changed its answer since
(DNS rebinding) gets nowhere.

Refused, always: unspecified, multicast, link-local, cloud metadata and
reserved addresses. Refused unless ``allow_private`` (the
``AUDIENCE_WEBHOOK_ALLOW_PRIVATE`` setting, for development and tests):
loopback and private networks (10/8, 172.16/12, 192.168/16, fc00::/7), and
local names. An IPv6 address that carries an IPv4 one (mapped, compatible,
6to4, NAT64) is judged by the IPv4 address.

Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from yarl import URL

from plugin.core.errors import InvalidRequest

__all__ = ["IPAddress", "check_url", "explained", "ip_literal", "name_refusal", "refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# Instance metadata services: AWS (also over IPv6), ECS tasks, Alibaba, Oracle.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192"))
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data",
                             "instance-data.ec2.internal"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton reads as an IPv4 address: up to four parts, decimal, octal or hex.
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
# Why an address or name is refused; the setting lifts the last four.
_METADATA_ADDRESS, _METADATA_NAME = "a cloud metadata address", "a cloud metadata name"
_LOOPBACK, _PRIVATE_NETWORK = "a loopback address", "a private address"
_LOCAL_NAME, _BARE_NAME = "a local name", "a name without a domain (a local one)"
_LIFTED = frozenset({_LOOPBACK, _PRIVATE_NETWORK, _LOCAL_NAME, _BARE_NAME})


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` is written as, in any form a resolver accepts
    (``[::1]``, ``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``); None
    for a name."""
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not connect to ``ip`` ("a loopback address"…), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = _carried_ipv4(ip)
        if carried is not None:
            return refusal(carried, allow_private=allow_private)
        ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])  # no zone: the same address
    if ip in _METADATA:
        return _METADATA_ADDRESS
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:
        return None if allow_private else _LOOPBACK
    if any(ip in network for network in _PRIVATE):
        return None if allow_private else _PRIVATE_NETWORK
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def name_refusal(name: str, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not be sent to host name ``name``, or None (its
    addresses are checked when a delivery resolves it)."""
    name = name.lower().rstrip(".")
    if name in _METADATA_NAMES:
        return _METADATA_NAME
    if allow_private:
        return None
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return _LOCAL_NAME
    if "." not in name:
        return _BARE_NAME
    return None


def explained(subject: str, why: str) -> str:
    """A refusal in words: ``subject`` ("10.0.0.1", "example.com resolves to
    10.0.0.1") is ``why``, and what would allow it, if anything."""
    hint = (" (AUDIENCE_WEBHOOK_ALLOW_PRIVATE=1 allows loopback and private ones, for "
            "development)" if why in _LIFTED else "")
    return f"{subject} is {why}; webhooks reach public addresses only{hint}"


def check_url(url: URL, *, allow_private: bool = False) -> None:
    """Refuse a webhook URL whose host is not public (see the module docstring).

    Raises:
        InvalidRequest: it is not, with the reason.
    """
    host = url.raw_host or ""
    ip = ip_literal(host)
    why = (refusal(ip, allow_private=allow_private) if ip is not None
           else name_refusal(host, allow_private=allow_private))
    if why is not None:
        shown = f"{host} ({ip})" if ip is not None and str(ip) != host.strip("[]") else host
        raise InvalidRequest(f"'url': {explained(shown, why)}", field="url", reason=why)
