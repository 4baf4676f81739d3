"""Remove secrets and personal data from text before it reaches a model, Slack or a log.

    >>> Redactor().redact_text("postgres://app:hunter2@db:5432/shop from 203.0.113.9")
    'postgres://app:<secret:password>@db:5432/shop from <ip>'

How it works: an ordered list of rules, each a compiled regex behind a cheap substring prefilter
(``"eyJ" in text`` before the JWT regex runs). A rule's regex only finds candidates; a validator decides
(Luhn for cards, mod-97 for IBANs, the IP policy, "does the key name say secret"). Every rule runs on the
original text; where two findings overlap the earlier rule wins (specific formats before generic
key=value before personal data), then the kept spans are replaced by placeholders in one pass.

Placeholders keep the text readable: ``<secret:KIND>`` for credentials (``<secret:aws_key>``,
``<secret:password>``), ``<email>``, ``<phone>``, ``<card>``, ``<iban>``, ``<ip>`` for personal data. Only
the secret part is replaced: ``Authorization: Bearer <secret:bearer>``, ``user:<secret:password>@host``,
``"password": "<secret:password>"``. No rule matches a placeholder, so redacting twice equals once.

What is found (issue 18 widened it; ``tests/fixtures/redaction/`` holds the corpora, ``bench/redact.py`` scores
them): known token formats (AWS, GCP, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, JWT, private keys and a
score of other vendors' prefixes); a value after any name whose last word is key, token, secret, credential(s),
password/pass/pwd, auth, session, cookie or signature, in every syntax a pair is written in (JSON, YAML, logfmt,
env, headers, query strings, Python reprs, ``--flag value``), with a threshold on the value so that words and
paths are not taken for keys (``cache_key=user:42:profile``, ``auth: required``); passwords in prose ("the
password is ...", ``pw: ...``) and in tools' command lines (``mysql -p...``, ``redis-cli -a``, ``curl -u``);
cookie values; unnamed high-entropy tokens (32+ characters of mixed case and digits, not base64 of text, not
after a digest or id field); national identity numbers after the words that name them (US SSN, UK NINO, Canadian
SIN with Luhn, Spanish DNI/NIE with its letter); e-mails, phone numbers, cards, IBANs, public IPs.

Left alone by design: hex ids (git SHAs, sha256 digests, trace and span ids), UUIDs, ULIDs and KSUIDs, pod names,
versions, image tags, timestamps, durations, ports, status codes, metric values, and private/loopback/link-local
addresses, which name our infrastructure rather than a person (policy in ``redact_checks``).

Why not a detector library: ``detect-secrets`` 1.5.0 and ``phonenumbers`` 9.0 were measured on the held-out half
of issue 18's corpus (``tests/fixtures/redaction/heldout.jsonl``), before these rules were widened. detect-secrets
with every plugin: recall 76.5 %, 85.9 % of the look-alike negatives changed (its entropy plugins fire on every
digest and request id), 404 lines/s; without the entropy plugins: 24.4 % recall, 0.3 % changed, 716 lines/s;
its keyword plugin alone 5.1 %; added to the first version of these rules it raised recall by 0.1 point at 709
lines/s (the target is 20,000). It also reports secret *values* per line, not spans. ``PhoneNumberMatcher``
found 94 % of the international and 23 % of the national phone numbers (region US) at 3,300 lines/s, where the
rules below find all of them. So neither is a dependency; their known formats and keyword lists informed the rules.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

from bot.digest.redact_checks import (
    IBAN_LENGTHS,
    iban_ok,
    ipv4_is_kept,
    ipv6_is_kept,
    is_basic_credential,
    is_card_number,
    luhn_ok,
    parse_ipv6,
)

__all__ = ["PII_KINDS", "Finding", "Redacted", "Redactor", "placeholder", "redact_text", "secret_kind_for_key"]

#: Kinds of personal data; every other kind is a credential and becomes ``<secret:KIND>``.
PII_KINDS = frozenset({"email", "phone", "card", "iban", "ip"})


def placeholder(kind: str) -> str:
    """The text that replaces a finding of ``kind``."""
    return f"<{kind}>" if kind in PII_KINDS else f"<secret:{kind}>"


@dataclass(frozen=True, slots=True)
class Finding:
    """One redacted span, as offsets into the *original* text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.findings)


# A hit is (start, end, kind); a handler turns one regex match into zero or more hits.
_Hit = tuple[int, int, str]
_Handler = Callable[[re.Match[str], str], Iterator[_Hit]]


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    handler: _Handler
    needles: tuple[str, ...] = ()  # run only if one of these is in the text...
    lower_needles: tuple[str, ...] = ()  # ...or one of these is in the lower-cased text
    # The same pattern without (?i), run on the lower-cased text: Python's re skips ahead on a first-character
    # set only for case-sensitive patterns, which makes the key=value scan ~5x faster. Handlers must read
    # values through the match's offsets from the original text, not through m.group().
    lower_pattern: re.Pattern[str] | None = None
    # a cheap test of its own on (text, lower-cased text), instead of needles
    gate: Callable[[str, str], bool] | None = None
    # Skip a match that overlaps what an earlier rule took (it would lose anyway): saves the handler's work.
    skip_taken: bool = False

    def applies(self, text: str, lower: str) -> bool:
        if self.gate is not None:
            return self.gate(text, lower)
        for needle in self.needles:  # plain loops: a generator in any() costs more than the search
            if needle in text:
                return True
        for needle in self.lower_needles:
            if needle in lower:
                return True
        return not self.needles and not self.lower_needles


def _whole(kind: str, group: int | str = 0) -> _Handler:
    def handle(m: re.Match[str], _text: str) -> Iterator[_Hit]:
        yield m.start(group), m.end(group), kind

    return handle


# ------------------------------------------------------------------------------- provider formats

_B = r"(?<![A-Za-z0-9_-])"  # token boundary on the left
_E = r"(?![A-Za-z0-9_-])"  # ... and on the right

_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.{0,8000}?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\\\s]*)",  # bounded: no n² scan
    re.S,
)
_JWT = re.compile(_B + r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AZURE_CONN = re.compile(r"(?i)(?:AccountKey|SharedAccessKey)=(?P<v>[A-Za-z0-9+/]{20,}={0,2})")
_AZURE_SECRET = re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])")
_SLACK_WEBHOOK = re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<v>[A-Za-z0-9_/-]{8,})")
# Token formats that start with a fixed prefix (the providers' own, as secret scanners list them).
_PREFIXED_FORMATS: tuple[tuple[str, str, str], ...] = (  # (kind, literal prefix, rest of the pattern)
    ("anthropic_key", "sk-ant-", r"[A-Za-z0-9_-]{20,}"),
    ("openai_key", "sk-", r"(?:proj-|svcacct-|admin-)?(?P<openai_body>[A-Za-z0-9_-]{20,})" + _E),
    *(("aws_key", p, r"[A-Z0-9]{16}(?![A-Za-z0-9])") for p in ("AKIA", "ASIA", "ABIA", "ACCA")),
    ("aws_key", "A3T", r"[A-Z0-9][A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("gcp_key", "AIza", r"[0-9A-Za-z_-]{35}" + _E),
    ("gcp_key", "GOCSPX-", r"[0-9A-Za-z_-]{28}" + _E),
    ("gcp_token", "ya29.", r"[0-9A-Za-z_-]{20,}"),
    *(("github_token", p + "_", r"[A-Za-z0-9]{30,251}" + _E) for p in ("ghp", "gho", "ghu", "ghs", "ghr")),
    ("github_token", "github_pat_", r"[A-Za-z0-9_]{22,255}" + _E),
    *(("gitlab_token", p + "-", r"[A-Za-z0-9_-]{20,}")
      for p in ("glpat", "gldt", "glrt", "glft", "glsoat", "glcbt", "glptt", "glimt", "gloas", "glagent")),
    ("gitlab_token", "GR1348941", r"[A-Za-z0-9_-]{20,}"),
    ("slack_token", "xoxe.xox", r"[abposre]-[A-Za-z0-9-]{10,}"),
    ("slack_token", "xox", r"[abposre]-[A-Za-z0-9-]{10,}"),
    ("slack_token", "xapp-", r"\d-[A-Za-z0-9-]{10,}"),
    *(("stripe_key", p, r"[0-9A-Za-z]{10,}") for p in ("sk_live_", "sk_test_", "rk_live_", "rk_test_")),
    ("stripe_key", "whsec_", r"[0-9A-Za-z]{20,}"),
    ("vault_token", "s.", r"(?P<vault_body>[A-Za-z0-9]{24})(?![A-Za-z0-9._-])"),
    *((kind, prefix, rest) for kind, prefix, rest in (
        ("sendgrid_key", "SG.", r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        ("npm_token", "npm_", r"[A-Za-z0-9]{30,}"),
        ("pypi_token", "pypi-AgE", r"[A-Za-z0-9_-]{50,}"),
        ("huggingface_token", "hf_", r"[A-Za-z0-9]{34}"),
        *(("vault_token", p, r"[A-Za-z0-9_-]{24,}") for p in ("hvs.", "hvb.", "hvr.")),
        ("docker_token", "dckr_pat_", r"[A-Za-z0-9_-]{20,}"),
        ("twilio_key", "SK", r"[0-9a-f]{32}(?![A-Za-z0-9])"),
        *(("digitalocean_token", p, r"[0-9a-f]{64}") for p in ("dop_v1_", "doo_v1_", "dor_v1_")),
        *(("shopify_token", p, r"[0-9a-fA-F]{32}") for p in ("shpat_", "shpca_", "shppa_", "shpss_")),
        ("newrelic_key", "NRAK-", r"[A-Z0-9]{27}"),
        *(("square_token", p, r"[A-Za-z0-9_-]{22,43}") for p in ("sq0atp-", "sq0csp-")),
        ("databricks_token", "dapi", r"[0-9a-f]{32}(?:-\d)?"),
        *(("grafana_token", p, r"[A-Za-z0-9_=+/-]{32,}") for p in ("glc_", "glsa_")),
        ("linear_key", "lin_api_", r"[A-Za-z0-9]{40}"),
        ("pulumi_token", "pul-", r"[0-9a-f]{40}"),
        ("figma_token", "figd_", r"[A-Za-z0-9_-]{40,}"),
        ("atlassian_token", "ATATT3", r"[A-Za-z0-9_=-]{50,}"),
    )),
)


# One scan finds where a known prefix starts a token; only the formats with that prefix are then tried, anchored
# at that position. (A regex per format, or a substring test per prefix, costs more on every line.)
_PREFIXES = sorted({prefix for _, prefix, _ in _PREFIXED_FORMATS}, key=len, reverse=True)


def _prefix_finder(prefixes: list[str]) -> re.Pattern[str]:
    """``s(?<![A-Za-z0-9_-]s)(?:k-ant-|k-|k_live_|...)|A(?<!...A)(?:KIA|SIA|...)|...``: one branch per first letter."""
    by_first: dict[str, list[str]] = {}
    for prefix in prefixes:  # longest first, so that sk-ant- is found rather than sk-
        by_first.setdefault(prefix[0], []).append(re.escape(prefix[1:]))
    return re.compile("|".join(
        f"{re.escape(first)}(?<![A-Za-z0-9_-]{re.escape(first)})(?:{'|'.join(rests)})" for first, rests in by_first.items()
    ))


_PREFIXED = _prefix_finder(_PREFIXES)
@cache
def _formats_at(found: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The formats a found prefix may start, compiled when that prefix is first seen: most of the ~60
    are never met by a given process, and compiling them all cost every import of the redactor."""
    return tuple((kind, re.compile(re.escape(prefix) + rest)) for kind, prefix, rest in _PREFIXED_FORMATS
                 if found.startswith(prefix))


def _prefixed(m: re.Match[str], text: str) -> Iterator[_Hit]:
    for kind, pattern in _formats_at(m.group()):
        token = pattern.match(text, m.start())
        if token is None:
            continue
        if kind == "openai_key":  # random base62: mixed case and a digit; not a pod name (sk-worker-7d9f8b6c5-x2k4q)
            body = token.group("openai_body")
            if not (_HAS_DIGIT.search(body) and body.lower() != body and body.upper() != body):
                continue
        elif kind == "vault_token" and token.re.groupindex.get("vault_body"):  # s.<24>: random, not a.Session
            body = token.group("vault_body")
            if body.lower() == body or body.upper() == body or not _HAS_DIGIT.search(body):
                continue
        yield token.start(), token.end(), kind
        return


# Bot tokens: Telegram ``<bot id>:AA<33>``, Discord ``<base64 user id>.<timestamp>.<hmac>``.
_TELEGRAM = re.compile(r"(?:(?<=/bot)|(?<![A-Za-z0-9]))\d{8,10}:AA[A-Za-z0-9_-]{33}" + _E)  # also /bot<token>/
_DISCORD = re.compile(r"\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}" + _E)  # the user-id part is read backwards
_DISCORD_ID = re.compile(r"(?<![A-Za-z0-9_-])[MNO][A-Za-z0-9_-]{23,25}$")


def _discord(m: re.Match[str], text: str) -> Iterator[_Hit]:
    head = _DISCORD_ID.search(text, max(0, m.start() - 26), m.start())
    if head is not None:
        yield head.start(), m.end(), "discord_token"


# ---------------------------------------------------------------------------------- credentials

_SCHEMES = r"bearer|basic|token|digest|negotiate|ntlm|bot|apikey|sso-key|aws4-hmac-sha256"
_AUTH_HEADER = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:proxy-)?authorization(?![A-Za-z0-9])"
    r"[\"'\\]*[ \t]*[:=][ \t]*[\[\"'\\]*[ \t]*"
    r"(?:(?P<scheme>" + _SCHEMES + r")[ \t]+)?(?P<v>[^\s\"',\[\]<>\\]+)"
)
_BEARER = re.compile(r"(?<![A-Za-z0-9])[Bb]earer[ \t]+(?P<v>[A-Za-z0-9._~+/-]{8,}=*)")
_BASIC = re.compile(r"(?<![A-Za-z0-9])Basic[ \t]+(?P<v>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])")
# Both URL rules find "://" first (a literal: re jumps to it) and check the scheme before it in the handler.
_URL_PASSWORD = re.compile(r"://[^:/?#@\s\"'<>]*:(?!\d+[/?#])(?P<v>[^/\s\"'<>]+)@")
_SCHEME_BEFORE = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}$")


def _after_scheme(m: re.Match[str], text: str) -> bool:
    return _SCHEME_BEFORE.search(text, max(0, m.start() - 22), m.start()) is not None

# Values that are not secrets even after a secret-looking key: states, flags, already-masked values.
_NOT_A_VALUE = frozenset(
    """true false null none nil undefined yes no on off ok okay fail failed failure success succeeded
    successful invalid valid expired missing required optional denied granted enabled disabled set unset
    present absent empty revoked refreshed rotated error unknown default anonymous redacted filtered masked
    hidden removed bearer basic token digest oidc oauth oauth2 jwt saml ldap mtls hmac apikey sso
    """.split()
)


def _masked_already(value: str) -> bool:
    v = value.strip().lower()
    return (
        not v
        or v in _NOT_A_VALUE
        or v.strip("*x.#-") == ""  # ***, xxxx, ...
        or v in ("[redacted]", "[filtered]", "<redacted>", "<hidden>")
        or "<secret:" in v
        or v in ("<email>", "<phone>", "<card>", "<iban>", "<ip>")
    )


# Cookie and Set-Cookie headers: every value that looks generated, whatever the cookie is called.
_COOKIE_HEADER = re.compile(r"(?i)(?<![A-Za-z0-9-])(?:set-)?cookie[\"']?[ \t]*[:=][ \t]*[\"']?(?P<v>[^\n\"'\]}]+)")
_COOKIE_PAIR = re.compile(r"(?:^|;)[ \t]*(?P<name>[^=;\s]+)=(?P<value>[^;\s]*)")
_SESSION_COOKIE = re.compile(r"(?i)sess|sid|auth|token|remember|jwt|login|csrf|xsrf")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "priority"})


def _cookie_header(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    base = m.start("v")
    for pair in _COOKIE_PAIR.finditer(m.group("v")):
        name, value = pair.group("name"), pair.group("value")
        if name.lower() in _COOKIE_ATTRIBUTES or _masked_already(value):
            continue
        if len(value) >= 16 and _credentialish(value) or (
            (secret_kind_for_key(name) or _SESSION_COOKIE.search(name)) and len(value) >= 8 and _credentialish(value)
        ):
            yield base + pair.start("value"), base + pair.end("value"), "cookie"


def _auth_header(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    value = m.group("v")
    scheme = (m.group("scheme") or "").lower()
    if _masked_already(value):
        return
    if not scheme and not _credentialish(value):  # "authorization: denied", "authorization: user not found"
        return
    kind = {"bearer": "bearer", "basic": "basic"}.get(scheme, "auth")
    yield m.start("v"), m.end("v"), kind


def _bearer(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    token = m.group("v")
    if (len(token) >= 16 and any(c.isdigit() for c in token)) or len(token) >= 24:
        yield m.start("v"), m.end("v"), "bearer"


def _basic(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    if is_basic_credential(m.group("v")):
        yield m.start("v"), m.end("v"), "basic"


# A token as the whole user part: https://<token>@github.com/acme/tools.git
_URL_TOKEN = re.compile(r"://(?P<v>[^:?#@\s\"'<>.]{20,})@")


def _url_token(m: re.Match[str], text: str) -> Iterator[_Hit]:
    if _after_scheme(m, text) and _looks_generated(m.group("v")):
        yield m.start("v"), m.end("v"), "token"


def _url_password(m: re.Match[str], text: str) -> Iterator[_Hit]:
    if _after_scheme(m, text) and not _masked_already(m.group("v")):
        yield m.start("v"), m.end("v"), "password"


# key=value, "key": "value", key: value, where the key's last word says secret. (Every alternative of the key
# words starts with a plain letter, so that re can skip ahead to the letters that can start one.) The regex finds the last
# word and the value; the rest of the key (db_, X-Auth-, spring.datasource., stripeApi) is read backwards on a
# match, and the last word must be a word of its own there (``hmacKey``, ``DB_PASS``; not ``monkey``, ``bypass``).
_KEY_WORDS = (  # password passwd passphrase pwd pass secret key token session(_id) sessid sig(nature) cookie
    # credential(s) auth(orization), and secret/token/key/password + value/base; as a trie, so re tries one branch
    r"(?:p(?:ass(?:word(?:[_-]?(?:value|base))?|wd|phrase)?|wd)"
    r"|s(?:ecret(?:[_-]?(?:value|base))?|ession(?:[_-]?id)?|essid|ig(?:nature)?)"
    r"|t(?:oken(?:[_-]?(?:value|base))?)"
    r"|k(?:ey(?:[_-]?(?:value|base))?)"
    r"|c(?:ookie|redentials?)"
    r"|a(?:uth(?:orization)?))"
)
_KV_SOURCE = (
    r"(?P<term>" + _KEY_WORDS + r")(?![A-Za-z0-9])"
    r"(?:\\?[\"'])?(?P<ws1>[ \t]*)(?P<sep>=>|:=|=|:)(?P<ws2>[ \t]*)"
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\.)*)\""
    r"|\\\"(?P<eq>[^\"\\\n]*)\\\""
    r"|'(?P<sq>[^'\n]*)'"
    r"|[\"']?(?P<bare>(?:(?:bearer|basic|token|digest)[ \t]+)?[^\s\"'&,;{}\[\]()<>\\]+))"
)
_KV = re.compile(_KV_SOURCE, re.I)
_KV_LOWER = re.compile(_KV_SOURCE)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_KEY_RE = re.compile(r"(?i)(?:" + _KEY_WORDS + r")$")
_PORTISH = re.compile(r"\d{1,5}(?:/[a-z]+)?")  # auth:8080, 443/tcp
# Run-together names whose last word is one of the key words: apikey, storepass, authtoken, ...
_COMPOUND_PREFIXES = (
    "api", "access", "secret", "private", "signing", "encryption", "master", "account", "app", "license", "write",
    "read", "ingest", "hmac", "client", "service", "routing", "subscription", "admin", "store", "key", "user", "db",
    "auth", "bot", "bearer", "refresh", "csrf", "xsrf", "root", "login", "bind", "jwt", "webhook", "shared", "consumer",
    "deploy", "upload", "install", "oauth", "vault", "sentry", "github", "gitlab", "npm", "slack", "session", "x",
)
# Names whose last word is "key" but which name a key of a table, cache or object store, not a credential.
_NOT_SECRET_KEYS = frozenset(
    """idempotencykey cachekey primarykey partitionkey sortkey foreignkey publickey objectkey hashkey rangekey
    dedupkey dedupekey dedupkey lookupkey mapkey groupkey shardkey shardingkey rowkey s3key storagekey? sshkey
    publishablekey keykey messagekey recordkey eventkey issuekey projectkey jirakey configkey i18nkey translationkey
    """.replace("?", "").split()
)
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd", "pass")


def _kv_kind(key: str) -> str:
    k = key.lower().replace("-", "").replace("_", "").replace(".", "")
    if k.endswith(("value", "base")):
        k = k[:-4] if k.endswith("base") else k[:-5]
    if "secretaccesskey" in k or (k.startswith("aws") and ("secret" in k or k.endswith("key"))):
        return "aws_key"
    if k.endswith(("accountkey", "sharedaccesskey")):
        return "azure_key"
    if k.endswith(_PASSWORD_WORDS):
        return "password"
    if k.endswith("privatekey"):
        return "private_key"
    if k.endswith("key"):
        return "api_key"
    if k.endswith("token"):
        return "token"
    if k.endswith(("session", "sessionid", "sessid")):
        return "session"
    if k.endswith("cookie"):
        return "cookie"
    if k.endswith(("auth", "authorization")):
        return "auth"
    if k.endswith(("signature", "sig")):
        return "signature"
    return "secret"


# Key words that end other words (monkey, bypass, oauth, hockey): after these, the key must show a word break.
_AMBIGUOUS_TERMS = frozenset({"key", "pass", "auth", "sig", "pw"})


def _last_word_is(key: str, term_start: int) -> bool:
    """Whether the key word at ``key[term_start:]`` is a word of its own: ``hmacKey``, ``db_pass``, ``apikey``."""
    if term_start <= 0 or key[term_start:].lower() not in _AMBIGUOUS_TERMS:
        return True
    before, first = key[term_start - 1], key[term_start]
    if before in "_.-" or before.isdigit() or (before.islower() and first.isupper()):
        return True
    return key[:term_start].lower().endswith(_COMPOUND_PREFIXES)


def _key_says_secret(key: str, term_len: int) -> bool:
    if not _last_word_is(key, len(key) - term_len):
        return False
    return key.lower().replace("-", "").replace("_", "").replace(".", "") not in _NOT_SECRET_KEYS


def secret_kind_for_key(key: str) -> str | None:
    """The redaction kind when a field named ``key`` holds a secret (``DB_PASSWORD`` → ``password``), else None.

    The key's last word decides: ``access_token``, ``clientSecret`` and ``SEGMENT_WRITE_KEY`` are secrets,
    ``token_count``, ``max_tokens``, ``auth_method``, ``cache_key`` and ``monkey`` are not.
    """
    if not key or key == "PWD":
        return None
    m = _KEY_RE.search(key)
    if m is None or not _key_says_secret(key, m.end() - m.start()):
        return None
    return _kv_kind(key)


def _credentialish(value: str) -> bool:
    """After ``key: `` (colon, no quotes) prose is common: ``token: context deadline exceeded``."""
    if _PORTISH.fullmatch(value):  # auth:8080, session: 3
        return False
    return (
        len(value) >= 16
        or any(c.isdigit() for c in value)
        or any(c.isupper() for c in value[1:])
        or any(c in "!#$%^&*+=~@?|" for c in value)
    )


_PATHISH = re.compile(r"[a-z0-9_.-]+(?:[/:][a-z0-9_.*{}-]+)+/?")  # exports/2024/05/orders.csv, user:42:profile
_COLON_PATH = re.compile(r"[\w.-]+(?::[\w.-]+){2,}")  # brief:inc_01HXZ8K3M9:digest:3f786850
_SLUG = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")  # db-credentials, stripe-api-key, checkout-tls


def _is_working_directory(key: str, value: str) -> bool:
    """``PWD=/home/app`` in an environment dump is the shell's directory, not a password."""
    return key.upper() == "PWD" and value.startswith(("/", "~", "."))


def _value_is_secret(value: str, kind: str) -> bool:
    """Entropy-ish thresholds: a password may be any word; a key, token or secret looks generated."""
    if _masked_already(value):
        return False
    if kind == "password":
        return True
    if _PORTISH.fullmatch(value) or _SLUG.fullmatch(value) or (
        kind == "api_key" and (_PATHISH.fullmatch(value) or _COLON_PATH.fullmatch(value))
    ):
        return False
    if kind in ("session", "cookie", "signature", "api_key"):
        return len(value) >= 8 and _credentialish(value)
    return _credentialish(value)


def _kv(m: re.Match[str], text: str) -> Iterator[_Hit]:
    start = m.start("term")
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    if start > 0 and text[start - 1] in "<@/:":  # placeholder, host (user@auth:8080, //auth:443), arn:...:secret:x
        return
    key = text[start : m.end("term")]
    if not _key_says_secret(key, m.end("term") - m.start("term")):
        return
    for group in ("dq", "eq", "sq", "bare"):
        if m.start(group) >= 0:
            break
    else:  # pragma: no cover - the regex always sets one
        return
    value = text[m.start(group) : m.end(group)]  # m.string may be the lower-cased text
    kind = _kv_kind(key)
    if _is_working_directory(key, value) or _NEXT_PAIR.match(value) or text.startswith("<", m.end(group)):
        return  # PWD=/home/app, "Cookie: sid=<secret:cookie>" (redacted already)
    if not _value_is_secret(value, kind):
        return
    sep = m.group("sep")
    if sep == "=" and m.group("ws2") and not m.group("ws1"):  # "DB_PASSWORD= DB_USER=app": empty value
        return
    if group == "bare" and ":" in sep and not _credentialish(value) and _prose_follows(text, m.end(group)):
        return
    yield m.start(group), m.end(group), kind


def _prose_follows(text: str, end: int) -> bool:
    """``token: context deadline exceeded``: a lower-case word after the value means a sentence, not a pair."""
    return text[end : end + 1] == " " and text[end + 1 : end + 2].islower()


# Command lines: --password hunter2, -srcstorepass x (--token=... is the key=value rule's)
_CLI_FLAG_SOURCE = (
    r"-(?<![A-Za-z0-9_-]-)-?[a-z0-9_-]*?(?P<term>" + _KEY_WORDS + r")[ \t]+"
    r"(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s\"'-][^\s\"']*))"
)
_CLI_FLAG = re.compile(_CLI_FLAG_SOURCE, re.I)
_CLI_FLAG_LOWER = re.compile(_CLI_FLAG_SOURCE)


def _cli_flag(m: re.Match[str], text: str) -> Iterator[_Hit]:
    flag = text[m.start() : m.end("term")].lstrip("-")
    if not _key_says_secret(flag, m.end("term") - m.start("term")):
        return
    kind = _kv_kind(flag)
    for group in ("dq", "sq", "bare"):
        if m.start(group) >= 0:
            value = text[m.start(group) : m.end(group)]
            if _value_is_secret(value, kind):
                yield m.start(group), m.end(group), kind
            return


# Tools that take a password positionally or glued to a short flag (what --password rules cannot see).
def _led_by(word: str, rest: str) -> str:
    """``word`` then ``rest``, its left boundary checked after the first letter: re can skip to that letter."""
    first = re.escape(word[0])
    return f"{first}(?<![A-Za-z0-9_-]{first}){re.escape(word[1:])}{rest}"


_LOGIN_P = r"[ \t]+login\b[^\n|;]{{0,300}}?[ \t]-p[ \t]+['\"]?(?P<login_{0}>[^\s'\"]+)"
_CURL_U = r"\b[^\n|;]{{0,300}}?[ \t](?:-u|--user)[ \t=]+['\"]?(?P<user_{0}>[^\s:'\"<>]*):(?P<upw_{0}>[^\s'\"@<>]*)"
_TOOL_PASSWORD = re.compile("|".join([
    _led_by("mysql", r"(?:dump|admin)?\b[^\n|;]{0,300}?[ \t]-p(?P<mysql>[^\s'\"-][^\s'\"]*)"),
    _led_by("redis-cli", r"\b[^\n|;]{0,300}?[ \t]-a[ \t]+['\"]?(?P<redis>[^\s'\"]+)"),
    _led_by("sshpass", r"[ \t]+-p[ \t]*['\"]?(?P<sshpass>[^\s'\"]+)"),
    *(_led_by(tool, _LOGIN_P.format(i)) for i, tool in enumerate(("docker", "podman", "nerdctl", "buildah", "skopeo"))),
    _led_by("helm", r"[ \t]+registry" + _LOGIN_P.format("helm")),
    _led_by("rabbitmqctl", r"[ \t]+(?:add_user|change_password)[ \t]+\S+[ \t]+['\"]?(?P<rabbit>[^\s'\"]+)"),
    _led_by("htpasswd", r"[ \t]+-[a-zA-Z]*b[a-zA-Z]*[ \t]+(?:-\S+[ \t]+)*\S+[ \t]+\S+[ \t]+['\"]?(?P<htpasswd>[^\s'\"]+)"),
    _led_by("mc", r"[ \t]+alias[ \t]+set[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+['\"]?(?P<mc>[^\s'\"]+)"),
    _led_by("pass:", r"(?P<openssl>[^\s'\"]+)"),
    *(_led_by(tool, _CURL_U.format(tool)) for tool in ("curl", "wget", "http")),
]))


def _tool_password(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    group = m.lastgroup or ""
    if group.startswith("upw_"):  # curl -u user:password, and -u TOKEN: with the token as the user
        password, user = group, "user_" + group[4:]
        if m.group(password) and not _masked_already(m.group(password)):
            yield m.start(password), m.end(password), "password"
        if len(m.group(user)) >= 20 and _looks_generated(m.group(user)):
            yield m.start(user), m.end(user), "token"
        return
    if group and not _masked_already(m.group(group)):
        yield m.start(group), m.end(group), "password"


# Prose: "the password is X", "new password for bob is X", "pw: X", "rotated subscription key to X".
_PROSE_SOURCE = (
    r"(?P<term>p(?:ass(?:word(?:[_-]?value)?|wd|phrase|wort)?|wd|w)|s(?:ecret(?:[_-]?value)?)"
    r"|k(?:ey(?:[_-]?value)?)|t(?:oken(?:[_-]?value)?)|c(?:redentials?))(?![A-Za-z0-9_])"
    r"(?:[ \t]+(?:for|of)(?:[ \t]+(?!(?:is|was|to|set|becomes)(?![^\s:=]))[^\s:=]{1,40}){1,4})?"
    r"(?P<conn>[ \t]*[:=][ \t]*|[ \t]+(?:was[ \t]+set[ \t]+to|set[ \t]+to|is[ \t]+now|is|was|to|becomes)"
    r"(?:[ \t]*:)?[ \t]+|[ \t]+)"
    r"(?!(?:password|passwd|secret|key|token|credentials?)(?![A-Za-z0-9_]))"  # "secret token to X": the last word
    r"(?:\"(?P<dq>[^\"\n]+)\"|\\\"(?P<eq>[^\"\\\n]+)\\\"|'(?P<sq>[^'\n]+)'|(?P<bare>[^\s\"'<>\\=:][^\s\"'<>\\]*))"
)
_PROSE = re.compile(_PROSE_SOURCE, re.I)
_PROSE_LOWER = re.compile(_PROSE_SOURCE)
_PROSE_STOP = frozenset(
    """is was to for the a an and or of in on at by with from as be been not no must should will can could may reset
    required incorrect invalid wrong expired too missing empty policy changed updated change update email sent length
    hash hashed field fields manager authentication auth login mismatch does did do has have had rotation rotated
    expiry expires expire strength complexity protected protection reuse history file path store vault entry entries
    provided given supplied accepted rejected verified ok set unset null none true false yes checks check request
    requests refresh refreshed revoked issued exchange endpoint type types bucket rate limit limits count budget
    usage used please via using was:""".split()
)


def _prose(m: re.Match[str], text: str) -> Iterator[_Hit]:
    term_start, term_end = m.start("term"), m.end("term")
    start = term_start
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_-."):
        start -= 1
    key = text[start:term_end]
    if start > 0 and text[start - 1] in "<@/:+":  # a placeholder, a host, arn:...:secret:x, base64 (...+Pw==)
        return
    if start > 0 and text[start - 1] == "=" and not m.group("conn").strip():  # auth_method=password: a value
        return
    if not _key_says_secret(key, term_end - term_start) and key.lower() not in ("pw", "passwort"):
        return
    for group in ("dq", "eq", "sq", "bare"):
        if m.start(group) >= 0:
            break
    else:  # pragma: no cover
        return
    value = text[m.start(group) : m.end(group)]
    if group == "bare":
        value = value.rstrip(".,;)")
    if not value or _masked_already(value) or value.lower() in _PROSE_STOP:
        return
    kind = _kv_kind(key) if key.lower() not in ("pw", "passwort") else "password"
    joined = not m.group("conn").strip()  # "password X", no "is", ":" or "to" in between
    if _NEXT_PAIR.match(value) or _is_working_directory(key, value):  # "DB_PASSWORD= DB_USER=app"
        return
    if value.startswith("arn:") or "://" in value:  # GetSecretValue arn:aws:..., "token at https://..."
        return
    if kind == "password":
        if joined and not _credentialish(value):
            return
    elif not (len(value) >= 16 and _looks_generated(value) and _value_is_secret(value, kind)) and not (
        kind == "secret" and _USER_PASSWORD.fullmatch(value)  # "credentials to svc-x:correct-horse"
    ):
        return
    yield m.start(group), m.start(group) + len(value), kind


_NEXT_PAIR = re.compile(r"[A-Za-z_][\w.-]*=(?!=|$)")  # "DB_USER=app" after "DB_PASSWORD= "; not base64 "ab=="
_USER_PASSWORD = re.compile(r"[\w.@-]{2,64}:(?!\d+$)[^\s/]{6,}")


_K_LOG_K = [0.0] + [k * math.log2(k) for k in range(1, 4097)]


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character: log2(n) - sum(k log2 k) / n over the character counts."""
    n = len(value)
    if n > 4096:
        n, value = 4096, value[:4096]
    return math.log2(n) - sum(map(_K_LOG_K.__getitem__, Counter(value).values())) / n


def _looks_generated(value: str) -> bool:
    """Random rather than written: letters and digits mixed, many distinct characters."""
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and _entropy(value) >= 3.0


# Unnamed high-entropy values: a long run of base62/base64 characters with upper, lower and digits, that is not
# a hex id, a UUID, base64 of readable text, or one of the hashes and public keys that look the same. A run with
# readable path segments (/hooks/catch/123/<token>) is judged segment by segment.
_HIGH_ENTROPY = re.compile(r"[A-Za-z0-9_+/-]{32,}={0,2}")  # leftmost-first: each match is a whole run
_NOT_SECRET_PREFIXES = ("sha1-", "sha256-", "sha384-", "sha512-", "AAAA", "H4sI")
_NOT_SECRET_BEFORE = ("sha256:", "sha512:", "sha1:", "md5:", "sha1-", "sha256-", "sha384-", "sha512-")
_ID_CONTEXT = re.compile(
    r"(?i)(?:x-amz-id-2|x-amz-cf-id|request[_-]?id|trace[_-]?id|span[_-]?id|etag|content-md5|digest|checksum|integrity"
    r"|fingerprint|payload|body|data|event[_-]?id|object|cursor|page[_-]?token|nonce|_id|\bid)[\"']?[ \t]*[:=][ \t]*"
    r"[\"']?$"
)
_WORD_SEGMENT = re.compile(r"[a-z]{3,}|[A-Z]?[a-z]{2,}(?:[A-Z][a-z]+)*|v?\d{1,20}|[a-z]+(?:[-_.][a-z0-9]+)+")


def _high_entropy(m: re.Match[str], text: str) -> Iterator[_Hit]:
    value = m.group()
    if value.islower() or value.isupper():  # hex ids, UUIDs, digests, paths: no token in them (the common case)
        return
    if "/" not in value:
        if len(value) < 32 or not _random_token(value):
            return
        spans = [(m.start(), value)]
    else:
        segments = value.split("/")
        if any(_WORD_SEGMENT.fullmatch(seg) for seg in segments):
            # a path (/hooks/catch/123/<token>): judge each run of segments between readable ones
            spans, pos, run_start, run = [], m.start(), m.start(), []
            for seg in [*segments, "end"]:
                if _WORD_SEGMENT.fullmatch(seg):
                    chunk = "/".join(run).strip("/")
                    if chunk and _random_token(chunk):
                        spans.append((run_start + len("/".join(run)) - len("/".join(run).lstrip("/")), chunk))
                    run, run_start = [], pos + len(seg) + 1
                else:
                    run.append(seg)
                pos += len(seg) + 1
            if not spans:
                return
        elif len(value) >= 32 and _random_token(value):
            spans = [(m.start(), value)]
        else:
            return
    if value.startswith(_NOT_SECRET_PREFIXES):
        return
    before = text[max(0, m.start() - 40) : m.start()]
    if before.lower().endswith(_NOT_SECRET_BEFORE) or _ID_CONTEXT.search(before):
        return
    for start, token in spans:
        yield start, start + len(token.rstrip("=")), "high_entropy"


_HAS_DIGIT = re.compile(r"\d")


def _random_token(value: str) -> bool:
    """Upper, lower and digits, many distinct characters, and not base64 of readable text."""
    value = value.rstrip("=")
    if len(value) < 32 or value.lower() == value or value.upper() == value or not _HAS_DIGIT.search(value):
        return False  # hex ids, UUIDs, ULIDs, pod names, words
    return _entropy(value) >= 4.0 and not _decodes_to_text(value)


_PRINTABLE = bytes([9, 10, 13, *range(32, 127)])


def _decodes_to_text(value: str) -> bool:
    """Base64 of readable text (a JSON payload, a message) rather than of random bytes."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value)
                               else None, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 12:
        return False
    printable = len(raw) - len(raw.translate(None, _PRINTABLE))
    return printable / len(raw) > 0.7  # random bytes: about 37 %; text, or protobuf around text: more


# National identity numbers, only after a word that names them (a bare 9-digit number is anything).
# Run on the lower-cased text (a case-insensitive regex is slower); the handler upper-cases what it checks.
_ID_TAIL = r"[a-z_.]*[\"']?[ \t]*[:=#]?[ \t]*[\"']?"  # SocialSecurityNumber", "ssn": ", NINO
_NATIONAL_ID = re.compile(  # each context starts with a letter, its left boundary checked after it (faster)
    r"(?:s(?<![a-z]s)(?:sn[ _-]?number|sn|ocial[ _-]?security(?:[ _-]?(?:number|no))?|s[ _-]?(?:number|no))"
    r"|t(?<![a-z]t)ax[ _-]?id)"
    + _ID_TAIL + r"(?P<ssn>\d{3}(?P<ssn_sep>[- ]?)\d{2}(?P=ssn_sep)\d{4})(?![a-z0-9])"
    r"|n(?<![a-z]n)(?:ino|ational[ _-]?insurance(?:[ _-]?(?:number|no))?|i[ _-]?(?:number|no))"
    + _ID_TAIL + r"(?P<nino>[a-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d])(?![a-z0-9])"
    r"|s(?<![a-z]s)(?:in[ _-]?(?:number|no)|in|ocial[ _-]?insurance(?:[ _-]?(?:number|no))?)"
    + _ID_TAIL + r"(?P<sin>\d{3}(?P<sin_sep>[- ]?)\d{3}(?P=sin_sep)\d{3})(?![a-z0-9])"
    r"|(?:d(?<![a-z]d)(?:ni|ocumento(?:[ _-]?de[ _-]?identidad)?)|n(?<![a-z]n)i[ef])"
    + _ID_TAIL + r"(?P<dni>[xyz]?\d{7,8}[ -]?[a-z])(?![a-z0-9])"
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _national_id(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    if m.group("ssn"):
        digits = m.group("ssn").replace("-", "").replace(" ", "")
        if digits[:3] not in ("000", "666") and digits[:1] != "9" and digits[3:5] != "00" and digits[5:] != "0000":
            yield m.start("ssn"), m.end("ssn"), "national_id"
    elif m.group("nino"):
        compact = m.group("nino").replace(" ", "").upper()
        if compact[0] not in "DFIQUV" and compact[1] not in "DFIOQUV":
            yield m.start("nino"), m.end("nino"), "national_id"
    elif m.group("sin"):
        digits = m.group("sin").replace("-", "").replace(" ", "")
        if luhn_ok(digits) and digits[0] != "0":
            yield m.start("sin"), m.end("sin"), "national_id"
    elif m.group("dni"):
        raw = m.group("dni").replace(" ", "").replace("-", "").upper()
        number = raw[:-1].replace("X", "0").replace("Y", "1").replace("Z", "2")
        if number.isdecimal() and _DNI_LETTERS[int(number) % 23] == raw[-1]:
            yield m.start("dni"), m.end("dni"), "national_id"


# Kubernetes env var dumps: {"name": "DB_PASSWORD", "value": "..."} / name: DB_PASSWORD, value: ...
_ENV_PAIR = re.compile(
    r"(?i)[\"']?name[\"']?[ \t]*[:=][ \t]*[\"']?(?P<key>[A-Za-z0-9_.-]*(?:" + _KEY_WORDS + r"))[\"']?"
    r"(?:[ \t]*,[ \t]*|[ \t]*\r?\n[ \t-]*)[\"']?value[\"']?[ \t]*[:=][ \t]*"
    r"(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,}\]]+))"
)


def _env_pair(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    kind = "password" if m.group("key").upper() == "PWD" else secret_kind_for_key(m.group("key"))
    if kind is None:
        return
    for group in ("dq", "sq", "bare"):
        value = m.group(group)
        if value is not None:
            if _value_is_secret(value, kind) and not _is_working_directory(m.group("key"), value):
                yield m.start(group), m.end(group), kind
            return


# ---------------------------------------------------------------------------------- personal data

# Patterns for personal data run on every line. Each starts with a character class and checks its left
# boundary with a look-behind *after* the first character (``\d(?<![A-Za-z0-9]\d)``): a pattern that starts
# with an assertion loses re's skip-ahead to the first possible character and is ~30 % slower.
_CARD = re.compile(
    r"\d(?<![A-Za-z0-9.+/:_-]\d)"
    r"(?:\d{3}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{4}(?:(?P=s1)\d{3})?"  # 4-4-4-4(-3)
    r"|\d{3}(?P<s2>[ -])\d{6}(?P=s2)\d{4,5}"  # Amex 4-6-5, Diners 4-6-4
    r"|\d{12,18})"
    r"(?![A-Za-z0-9_]|[.,:-]\d)"
)


_CARD_CONTEXT = re.compile(r"(?i)card|\bpan\b|\bcc\b|credit|debit|number")


def _card(m: re.Match[str], text: str) -> Iterator[_Hit]:
    raw = m.group()
    digits = raw.replace(" ", "").replace("-", "")
    grouped = bool(m.group("s1") or m.group("s2"))
    if _ID_CONTEXT.search(text[max(0, m.start() - 40) : m.start()]):  # "dd.trace_id": "5552250635913309"
        return
    if is_card_number(digits) or (
        (grouped or _CARD_CONTEXT.search(text, max(0, m.start() - 24), m.start()))
        and len(digits) in (15, 16) and luhn_ok(digits) and len(set(digits)) > 2
    ):
        yield m.start(), m.end(), "card"
    elif len(digits) == 19 and m.group("s1") and is_card_number(digits[:16]):  # "4111 1111 1111 1111 200"
        yield m.start(), m.start() + 19, "card"


_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}"  # country, check digits
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![a-z0-9])"  # compact or in groups of 4
)


def _iban(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    raw = m.group()
    want = _iban_length(raw)
    if want is None:
        return
    # take exactly the country's length of characters, skipping the grouping spaces
    count, end = 0, m.start()
    for i, ch in enumerate(raw):
        if ch != " ":
            count += 1
            if count == want:
                end = m.start() + i + 1
                break
    else:
        return
    compact = raw[: end - m.start()].replace(" ", "")
    if iban_ok(compact) and (end == m.end() or not raw[end - m.start()].isalnum()):
        yield m.start(), end, "iban"


def _iban_length(raw: str) -> int | None:
    return IBAN_LENGTHS.get(raw[:2])


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9._%+-]+)(?:@|%40)"
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?P<tld>[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico css js mjs map json yaml yml txt log html"
    " service socket target timer mount slice scope device path swap".split()  # systemd units: getty@tty1.service
)


def _email(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    if m.group("local").lower() == "git":  # git@github.com:org/repo.git is an SSH remote, not a person
        return
    if m.group("tld").lower() in _FILE_EXTENSIONS:  # logo@2x.png
        return
    yield m.start(), m.end(), "email"


# The pattern starts with a character class (and checks the left boundary after it) so that re can skip ahead
# to a "+", "(" or digit; empty named groups tell the shapes apart (a group first would cost that skip).
_PHONE = re.compile(
    r"[+(0-9](?<![A-Za-z0-9.+/:_-][+(0-9])(?:"
    r"(?<=\+)(?P<intl>)[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,4}){1,5}"
    r"|(?<=\()(?P<nanp>)[2-9]\d{2}\)[ ]?[2-9]\d{2}[-. ]\d{4}"
    r"|(?<=[2-9])(?P<nanp_bare>)\d{2}(?P<ns>[-.])[2-9]\d{2}(?P=ns)\d{4}"
    r"|(?<=0)(?P<trunk>)\d{1,4}[ /-]\d{2,8}(?:[ -]\d{2,4}){0,3}"
    r")(?![A-Za-z0-9_]|[.:-]\d)"
)
_PHONE_KEY = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_.-])*(?:phone(?:[_-]?(?:number|no))?|mobile|msisdn|tel(?:ephone)?)"
    r"[\"']?[ \t]*[:=][ \t]*[\"']?(?P<v>\+?\d[\d ().-]{5,18}\d)(?![A-Za-z0-9])"
)


def _phone(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    n = sum(c.isdigit() for c in m.group())
    if m.start("intl") >= 0:
        ok = 10 <= n <= 15
    elif m.start("nanp") >= 0 or m.start("nanp_bare") >= 0:
        ok = n == 10
    elif m.group().startswith("00") and m.group()[2:3] in "123456789":  # 0044 20 7946 0958: the international prefix dialled from Europe
        ok = 11 <= n <= 17
    else:
        ok = 10 <= n <= 12
    if ok:
        yield m.start(), m.end(), "phone"


def _phone_key(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    if 7 <= sum(c.isdigit() for c in m.group("v")) <= 15:
        yield m.start("v"), m.end("v"), "phone"


_IPV4 = re.compile(r"\d(?<![A-Za-z0-9.]\d)\d{0,2}(?:\.\d{1,3}){3}(?![A-Za-z0-9_]|\.\d)")  # octets checked below
_VERSION_CONTEXT = ("version", "release", "build", "ver ", "ver=", "ver:", "firmware", "kernel")


def _ipv4(m: re.Match[str], text: str) -> Iterator[_Hit]:
    kept = ipv4_is_kept(m.group())
    if kept is None or kept:  # not an address (999.1.2.3, 01.02.03.04) or one of ours
        return
    before = text[max(0, m.start() - 16) : m.start()].lower()
    if any(word in before for word in _VERSION_CONTEXT):  # "version 1.2.3.4"
        return
    yield m.start(), m.end(), "ip"


_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(
    r"(?<![A-Za-z0-9:.])(?:"
    r"(?:" + _H + r":){7}" + _H + r"|(?:" + _H + r"(?::" + _H + r"){0,6})?::(?:" + _H + r"(?::" + _H + r"){0,6})?"
    r")(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![A-Za-z0-9:]|\.\d)"
)


def _may_hold_ipv6(text: str, _lower: str) -> bool:
    return "::" in text or text.count(":") >= 7


def _ipv6(m: re.Match[str], _text: str) -> Iterator[_Hit]:
    address = parse_ipv6(m.group())
    if address is not None and not ipv6_is_kept(address):
        yield m.start(), m.end(), "ip"


# ----------------------------------------------------------------------------------------- rules

class _Needles:
    """A gate: is any of ``needles`` in the lower-cased text? Remembers its last answer, so rules that share
    one (key=value pairs and command-line flags) test a line once. The answer is kept with its line in one
    tuple: one assignment, so threads sharing a Redactor never read one line's answer for another."""

    __slots__ = ("_needles", "_last")

    def __init__(self, *needles: str) -> None:
        self._needles = needles
        self._last: tuple[str | None, bool] = (None, False)

    def __call__(self, _text: str, lower: str) -> bool:
        last = self._last
        if last[0] is lower:
            return last[1]
        found = False
        for needle in self._needles:
            if needle in lower:
                found = True
                break
        self._last = (lower, found)
        return found


_KEY_WORD_GATE = _Needles("pass", "pwd", "secret", "key", "token", "session", "sessid", "cookie", "auth", "credential",
                          "sig")


# Order is priority: where two findings overlap, the one from the earlier rule is kept.
_RULES: tuple[_Rule, ...] = (
    _Rule("pem", _PEM, _whole("private_key"), needles=("PRIVATE KEY",)),
    _Rule("jwt", _JWT, _whole("jwt"), needles=("eyJ",)),
    _Rule("prefixed", _PREFIXED, _prefixed),
    _Rule("azure_conn", _AZURE_CONN, _whole("azure_key", "v"), lower_needles=("accountkey=", "sharedaccesskey=")),
    _Rule("azure_secret", _AZURE_SECRET, _whole("azure_key"), needles=("Q~",)),
    _Rule("slack_webhook", _SLACK_WEBHOOK, _whole("slack_webhook", "v"), needles=("hooks.slack.com",)),
    _Rule("mailchimp", re.compile(r"(?<![A-Za-z0-9])[0-9a-f]{32}-us\d{1,2}" + _E), _whole("mailchimp_key"),
          needles=("-us",)),
    _Rule("telegram", _TELEGRAM, _whole("telegram_token"), needles=(":AA",)),
    _Rule("discord", _DISCORD, _discord, needles=(".",)),
    _Rule("auth_header", _AUTH_HEADER, _auth_header, lower_needles=("authorization",)),
    _Rule("cookie_header", _COOKIE_HEADER, _cookie_header, lower_needles=("cookie",)),
    _Rule("bearer", _BEARER, _bearer, needles=("earer",)),
    _Rule("basic", _BASIC, _basic, needles=("Basic",)),
    _Rule("url_password", _URL_PASSWORD, _url_password, needles=("://",)),
    _Rule("url_token", _URL_TOKEN, _url_token, needles=("://",)),
    _Rule("tool_password", _TOOL_PASSWORD, _tool_password, gate=_Needles(
        "mysql", "redis-cli", "sshpass", " login", "rabbitmqctl", "htpasswd", "mc alias", "pass:", "curl", "wget",
        "http ")),
    _Rule("cli_flag", _CLI_FLAG, _cli_flag, lower_pattern=_CLI_FLAG_LOWER, gate=_KEY_WORD_GATE),
    _Rule("env_pair", _ENV_PAIR, _env_pair, gate=lambda text, _lower: "alue" in text and "ame" in text),
    _Rule("kv", _KV, _kv, lower_pattern=_KV_LOWER, gate=_KEY_WORD_GATE),
    _Rule("prose", _PROSE, _prose, lower_pattern=_PROSE_LOWER, skip_taken=True, gate=_Needles(
        "pass", "pw", "secret", "key", "token", "credential")),
    _Rule("national_id", re.compile(_NATIONAL_ID.pattern, re.I), _national_id, lower_pattern=_NATIONAL_ID,
          gate=_Needles("ssn", "social", "tax", "nino", "insurance", "sin", "dni", "nie", "nif", "documento", "ss_n",
                        "ss n", "ni_n", "ni n", "ni-n")),
    _Rule("card", _CARD, _card),
    _Rule("iban", _IBAN, _iban),
    _Rule("email", _EMAIL, _email, needles=("@", "%40")),
    _Rule("phone_key", _PHONE_KEY, _phone_key, lower_needles=("phone", "mobile", "msisdn", "tel")),
    _Rule("phone", _PHONE, _phone),
    _Rule("ipv6", _IPV6, _ipv6, gate=_may_hold_ipv6),
    _Rule("ipv4", _IPV4, _ipv4, gate=lambda text, _lower: text.count(".") >= 3),  # a.b.c.d
    _Rule("high_entropy", _HIGH_ENTROPY, _high_entropy, skip_taken=True),
)  # fmt: skip


def _overlaps(accepted: list[_Hit], start: int, end: int) -> bool:
    i = bisect.bisect_left(accepted, (start, end, ""))
    return (i > 0 and accepted[i - 1][1] > start) or (i < len(accepted) and accepted[i][0] < end)


def _add_unless_overlapping(accepted: list[_Hit], hit: _Hit) -> None:
    """Insert ``hit`` into the sorted, disjoint ``accepted`` unless it overlaps one already there."""
    start, end, _ = hit
    if start >= end:
        return
    i = bisect.bisect_left(accepted, hit)
    if i > 0 and accepted[i - 1][1] > start:
        return
    if i < len(accepted) and accepted[i][0] < end:
        return
    accepted.insert(i, hit)


class Redactor:
    """Finds secrets and personal data in text and replaces them with readable placeholders.

    ``extra_secrets`` are exact values to remove wherever they appear (the bot's own tokens from
    ``Settings.secret_values()``); they become ``<secret:configured>``. Values shorter than 4 characters
    are ignored: they would mask half of every line. A Redactor is immutable and safe to share.
    """

    def __init__(self, *, extra_secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in extra_secrets if s and len(s) >= 4}, key=len, reverse=True)
        rules = list(_RULES)
        if values:
            pattern = re.compile("|".join(re.escape(v) for v in values))
            rules.insert(0, _Rule("configured", pattern, _whole("configured")))
        self._rules = tuple(rules)
        self._plan = tuple(
            (r.needles, r.lower_needles, r.gate, r.pattern, r.lower_pattern, r.handler, r.skip_taken) for r in rules
        )

    def redact(self, text: str) -> Redacted:
        if not text:
            return Redacted(text, [])
        lower = text.lower()
        same_length = len(lower) == len(text)  # not so for a few characters such as "İ"
        accepted: list[_Hit] = []  # sorted by start, never overlapping
        # Rule.applies, inlined: a method call per rule and line costs more than most of the regexes.
        for needles, lower_needles, gate, pattern, lower_pattern, handler, skip_taken in self._plan:
            if gate is not None:
                if not gate(text, lower):
                    continue
            elif needles or lower_needles:
                for needle in needles:
                    if needle in text:
                        break
                else:
                    for needle in lower_needles:
                        if needle in lower:
                            break
                    else:
                        continue
            if lower_pattern is not None and same_length:
                matches = lower_pattern.finditer(lower)
            else:
                matches = pattern.finditer(text)
            for m in matches:
                if skip_taken and accepted and _overlaps(accepted, m.start(), m.end()):
                    continue
                for hit in handler(m, text):
                    _add_unless_overlapping(accepted, hit)
        if not accepted:
            return Redacted(text, [])
        parts: list[str] = []
        pos = 0
        for start, end, kind in accepted:
            parts.append(text[pos:start])
            parts.append(placeholder(kind))
            pos = end
        parts.append(text[pos:])
        return Redacted("".join(parts), [Finding(kind, start, end) for start, end, kind in accepted])

    def redact_text(self, text: str) -> str:
        return self.redact(text).text

    def redact_field(self, key: str, value: str) -> str:
        """A value whose field name says secret (``password``, ``api_key``) is replaced whole; others are scanned.

        For structured data (log events, JSON bodies) where the key is not part of the text.
        """
        kind = secret_kind_for_key(key)
        if kind is not None and not _masked_already(value):
            return placeholder(kind)
        return self.redact(value).text


_default: Redactor | None = None


def redact_text(text: str) -> str:
    """Redact with the built-in rules only (no configured secrets)."""
    global _default
    if _default is None:
        _default = Redactor()
    return _default.redact_text(text)
