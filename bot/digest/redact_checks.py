"""Pure validators behind the redactor's cheap regexes: Luhn, IBAN mod-97, card brands, IP policy.

A regex finds a *candidate*; these functions decide whether it is the real thing, so that a 16-digit
order number, a random ``GB12...`` id or an infrastructure address is left alone.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

# ---------------------------------------------------------------------------------------------- cards


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _brand_lengths(digits: str) -> tuple[int, ...]:
    """Lengths a card number with this prefix (IIN) may have; () when no major scheme issues it."""
    d1, d2, d3, d4 = digits[:1], int(digits[:2]), int(digits[:3]), int(digits[:4])
    if d1 == "4":  # Visa
        return (13, 16, 19)
    if 51 <= d2 <= 55 or 2221 <= d4 <= 2720:  # Mastercard
        return (16,)
    if d2 in (34, 37):  # American Express
        return (15,)
    if d4 == 6011 or 644 <= d3 <= 649 or d2 == 65:  # Discover
        return (16, 17, 18, 19)
    if 3528 <= d4 <= 3589:  # JCB
        return (16, 17, 18, 19)
    if 300 <= d3 <= 305 or d2 in (36, 38, 39):  # Diners Club
        return (14, 15, 16, 17, 18, 19)
    if d2 == 62:  # UnionPay
        return (16, 17, 18, 19)
    if d2 in (50, 56, 57, 58) or d2 in (63, 67):  # Maestro
        return (12, 13, 14, 15, 16, 17, 18, 19)
    return ()


def is_card_number(digits: str) -> bool:
    """A payment card number: an issuing scheme's prefix, that scheme's length and a valid Luhn digit."""
    return (
        13 <= len(digits) <= 19
        and len(digits) in _brand_lengths(digits)
        and len(set(digits)) > 1  # 0000 0000 0000 0000 and friends
        and luhn_ok(digits)
    )


# ----------------------------------------------------------------------------------------------- IBAN

# IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    """``compact`` (no spaces, upper case) has its country's length and passes the ISO 7064 mod-97 check."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


# ------------------------------------------------------------------------------------------ IP policy

# Addresses we keep: they name our own infrastructure (pods, nodes, services, sidecars), are not personal
# data and are what an engineer needs to follow "connection refused 10.0.3.17:5432". Everything else,
# including the documentation ranges (RFC 5737 / RFC 3849, which stand for public addresses in examples),
# is treated as a client's public address and redacted.
_KEPT_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "100.64.0.0/10",  # RFC 6598 shared space: pod networks, Tailscale, carrier NAT inside
        "0.0.0.0/8",  # "this network", bind-all
        "224.0.0.0/4",  # multicast
        "255.255.255.255/32",  # broadcast
    )
)
_KEPT_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::1/128",  # loopback
        "::/128",  # unspecified
        "fe80::/10",  # link-local
        "fc00::/7",  # unique local (ULA)
        "ff00::/8",  # multicast
    )
)


def ipv4_is_kept(text: str) -> bool | None:
    """True for infrastructure addresses that stay readable (see the policy above); None if not an address."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    return any(address in net for net in _KEPT_V4)


def parse_ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def ipv6_is_kept(address: ipaddress.IPv6Address) -> bool:
    if address.ipv4_mapped is not None:
        return bool(ipv4_is_kept(str(address.ipv4_mapped)))
    return any(address in net for net in _KEPT_V6)


# -------------------------------------------------------------------------------------- basic auth


def is_basic_credential(token: str) -> bool:
    """A ``Basic`` credential outside an Authorization header: base64 of printable ``user:password``."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable() and len(decoded) >= 3
