"""Redaction of secrets and personal data: per kind, look-alikes, placeholders, idempotence, the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.digest.redact import Finding, Redacted, Redactor, placeholder, redact_text, secret_kind_for_key
from bot.digest.redact_checks import iban_ok, ipv4_is_kept, is_card_number, luhn_ok

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "redaction"
CORPUS = FIXTURES / "corpus.jsonl"

GHP = "ghp_" + "FAKE0test0EXAMPLE0" * 2
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLXVzZXIifQ.FAKEsignatureEXAMPLE000000"
ANT = "sk-ant-api03-" + "FAKE_example-TEST0" * 5
OAI = "sk-proj-" + "FAKEexample0TEST" * 3


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


# (kind, text, the secret that must go, the placeholder that must appear)
POSITIVES = [
    ("aws_key", "access_key=AKIAIOSFODNN7EXAMPLE region=eu-west-1", "AKIAIOSFODNN7EXAMPLE", "<secret:aws_key>"),
    ("aws_key", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "<secret:aws_key>"),
    ("gcp_key", "GET /geocode?key=AIzaSyFAKE0example-TEST_FAKE0example-TE", "AIzaSyFAKE0example-TEST_FAKE0example-TE",
     "<secret:gcp_key>"),
    ("azure_key", "AccountName=acme;AccountKey=" + "FAKE0example+test/" * 5 + "==;EndpointSuffix=core.windows.net",
     "FAKE0example+test/" * 5, "<secret:azure_key>"),
    ("github_token", f"token={GHP} repo=acme/deploy", GHP, "<secret:github_token>"),
    ("github_token", "export GITHUB_TOKEN=github_pat_11FAKE0000_" + "exampleFAKEtest0123" * 3,
     "github_pat_11FAKE0000_", "<secret:github_token>"),
    ("gitlab_token", "git clone https://oauth2:glpat-FAKEexample-test_000@gitlab.example.com/x.git",
     "glpat-FAKEexample-test_000", "<secret:gitlab_token>"),
    ("slack_token", "SLACK_BOT_TOKEN=xoxb-1234567890-1234567890123-FAKEexampleTEST0FAKEexam",
     "xoxb-1234567890-1234567890123-FAKEexampleTEST0FAKEexam", "<secret:slack_token>"),
    ("slack_token", "app_token xapp-1-A0FAKE00000-1234567890123-0fake1example2test3",
     "xapp-1-A0FAKE00000-1234567890123-0fake1example2test3", "<secret:slack_token>"),
    ("slack_webhook", "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX: 404",
     "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/<secret:slack_webhook>"),
    ("stripe_key", "Invalid API Key provided: sk_live_FAKE0example0FAKE0example0",
     "sk_live_FAKE0example0FAKE0example0", "<secret:stripe_key>"),
    ("anthropic_key", f"ANTHROPIC_API_KEY={ANT}", ANT, "<secret:anthropic_key>"),
    ("openai_key", f"Incorrect API key provided: {OAI}.", OAI, "<secret:openai_key>"),
    ("bearer", "Authorization: Bearer FAKEbearer0example0token0123456789", "FAKEbearer0example0token0123456789",
     "Authorization: Bearer <secret:bearer>"),
    ("basic", "Authorization: Basic YWxpY2U6RkFLRXBhc3N3b3Jk", "YWxpY2U6RkFLRXBhc3N3b3Jk",
     "Authorization: Basic <secret:basic>"),
    ("jwt", f"id_token={JWT} user=42", JWT, "<secret:jwt>"),
    ("url_password", "postgres://app:hunter2FAKE@db:5432/shop", "hunter2FAKE",
     "postgres://app:<secret:password>@db:5432/shop"),
    ("kv_password", '{"user":"bob","password":"correct horse FAKE"}', "correct horse FAKE",
     '"password":"<secret:password>"'),
    ("kv_token", "access_token=FAKEaccessTok3n&expires_in=3600", "FAKEaccessTok3n",
     "access_token=<secret:token>&expires_in=3600"),
    ("kv_yaml", "  client_secret: FAKEoidcSecret0001", "FAKEoidcSecret0001", "client_secret: <secret:secret>"),
    ("kv_cookie", "Cookie: sessionid=FAKEsess0123456789; theme=dark", "FAKEsess0123456789", "theme=dark"),
    ("kv_escaped_json", r'"body":"{\"password\":\"FAKEpw-escaped9\"}"', "FAKEpw-escaped9", "<secret:password>"),
    ("cli_flag", "mysqldump --password FAKEdumpPW55 shop", "FAKEdumpPW55", "--password <secret:password> shop"),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAFAKEexample\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEAFAKEexample", "<secret:private_key>"),
    ("email", "password reset for alice@example.com", "alice@example.com", "password reset for <email>"),
    ("phone", "sms to +44 20 7946 0958 delivered", "+44 20 7946 0958", "sms to <phone> delivered"),
    ("phone", "callback (415) 555-0132", "(415) 555-0132", "callback <phone>"),
    ("phone", "bureau 01 23 45 67 89", "01 23 45 67 89", "bureau <phone>"),
    ("card", "card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "card <card> declined"),
    ("card", "pan=378282246310005", "378282246310005", "pan=<card>"),
    ("iban", "payout to GB82 WEST 1234 5698 7654 32 queued", "GB82 WEST 1234 5698 7654 32", "payout to <iban> queued"),
    ("iban", "debtor=DE89370400440532013000", "DE89370400440532013000", "debtor=<iban>"),
    ("ip", "client 203.0.113.42:51522 GET /", "203.0.113.42", "client <ip>:51522 GET /"),
    ("ip", "from [2001:db8::5]:443", "2001:db8::5", "from [<ip>]:443"),
]

# look-alikes that must come out unchanged
NEGATIVES = [
    ("git_sha", "sync revision=3f786850e387550fdab836ed7e6dc881de23001b phase=Succeeded"),
    ("short_sha", "HEAD is now at a94a8fe fix(checkout): bound the pool"),
    ("digest", "image registry.example.com/shop/checkout@sha256:"
               "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("uuid", "request_id=550e8400-e29b-41d4-a716-446655440000 status=201"),
    ("trace_id", '{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}'),
    ("traceparent", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("pod", "Back-off restarting failed container in pod checkout-7d9f8b6c5-x2k4q"),
    ("pod_sk", "sk-learn-batch-7f8d9c6b5-mn3kq completed"),
    ("semver", "sitrep v0.3.1, argocd v2.11.0+d3f33c0, requests==2.31.0, react@18.2.0"),
    ("version4", "firmware version 10.2.3.4"),
    ("timestamp", "2024-05-14T03:41:07.512Z took 1h23m45s (+0200), ts=1715658067512"),
    ("iso_date", "window 2024-05-14..2024-05-15 dates 05-01-2024"),
    ("duration", "p99 200 ms -> 8.2 s at 03:41 UTC; duration=84.2ms"),
    ("ports", "listening on 0.0.0.0:8080, 127.0.0.1:9090 and [::]:8443"),
    ("status", '"GET /healthz HTTP/1.1" 200 2 "kube-probe/1.29"'),
    ("metric", 'http_requests_total{code="503"} 12873 rate=415.555 ratio=0.0132'),
    ("luhn_invalid", "queue depth 4111111111111112"),
    ("epoch_ns", "ts_ns=1715658067512345678"),
    ("private_ip", "upstream 10.0.3.17:8080 refused; peer 172.20.14.3; gw 192.168.10.1; meta 169.254.169.254"),
    ("ipv6_local", "bind [::1]:6379 fe80::1ff:fe23:4567:890a%eth0 fd12:3456:789a:1::1"),
    ("mac", "MAC 00:1a:2b:3c:4d:5e OID 1.3.6.1.4.1.2021.10.1.3.1"),
    ("token_counts", "input_tokens=5120 output_tokens=612 max_tokens=1024 token_count=3"),
    ("auth_words", "auth=failed auth_method=oidc author=alice session=expired"),
    ("masked", '{"password":"***","token":null,"api_key":"[REDACTED]"}'),
    ("prose", "error: token: context deadline exceeded"),
    ("host_port", "dial auth:8080 and http://auth:8080/oauth2/authorize"),
    ("go_signal", "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]"),
    ("base64", '{"payload":"eyJldmVudCI6ImRlcGxveSJ9"} motd: SGVsbG8gV29ybGQ='),
    ("basic_not_credential", "Basic SGVsbG8gV29ybGQ= is not a credential"),
    ("git_remote", "cloning git@github.com:acme/deploy.git"),
    ("asset", "logo@2x.png not found"),
    ("java_hash", "at com.acme.cache.LruCache@1b6d3586 (LruCache.java:42)"),
    ("go_stack", "\t/src/internal/store/cart.go:143 +0x1f4 fp=0xc000ab1e58"),
    ("bad_iban", "batch GB12 ABCD 0000 0000 0000 00 checksum mismatch"),
    ("arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"),
    ("k8s_secret_ref", 'MountVolume.SetUp failed for volume "certs" : secret "checkout-tls" not found'),
    ("ssh_fingerprint", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU (ED25519)"),
]


# issue 18: names, syntaxes and formats the first rules did not know (kind, text, secret, what must appear)
POSITIVES += [
    ("any_key_name", 'SEGMENT_WRITE_KEY="ca8b6124c22f8b6f22b4aa0db6196754" svc=notifier',
     "ca8b6124c22f8b6f22b4aa0db6196754", 'SEGMENT_WRITE_KEY="<secret:api_key>" svc=notifier'),
    ("camel_key", "hmacKey=Oz/crCRH7wjj++wegD3ACqmX1evse3GN", "Oz/crCRH7wjj++wegD3ACqmX1evse3GN", "hmacKey=<secret:"),
    ("header_key", "Ocp-Apim-Subscription-Key: vpm8FOFlEsD4qmq5ShuHRWYl398Zpkpm", "vpm8FOFlEsD4qmq5ShuHRWYl398Zpkpm",
     "Ocp-Apim-Subscription-Key: <secret:api_key>"),
    ("python_dict", "{'id': 7, 'user_pass': 'purple516', 'retry': True}", "purple516", "'user_pass': '<secret:password>'"),
    ("unclosed_quote", 'DISCORD_TOKEN="Nn2OiyOI27qMlfz3eOQK0S9x', "Nn2OiyOI27qMlfz3eOQK0S9x", "DISCORD_TOKEN="),
    ("prose_is", "the password is winter-galaxy-summer-harbor", "winter-galaxy-summer-harbor",
     "the password is <secret:password>"),
    ("prose_for", "new password for the service account is Galaxy2013?", "Galaxy2013?", "is <secret:password>"),
    ("prose_set_to", "redis password was set to !+iOd*Ntmyh2q@D for auth", "!+iOd*Ntmyh2q@D", "for auth"),
    ("prose_pw", "pw: P@ssw0rd68", "P@ssw0rd68", "pw: <secret:password>"),
    ("prose_rotated", "rotated subscription key to fe714bb85ce6b7afcbf7dc4f0b56fe9d",
     "fe714bb85ce6b7afcbf7dc4f0b56fe9d", "key to <secret:api_key>"),
    ("mysql_p", "mysql -h db -u root -pSunshine-Coffee9 shop", "Sunshine-Coffee9", "-p<secret:password> shop"),
    ("redis_a", "redis-cli -h redis-0 -a hunter45 ping", "hunter45", "-a <secret:password> ping"),
    ("openssl_pass", "openssl pkcs12 -export -passout pass:U#Wv#*DECL7aln1 -out cert.p12", "U#Wv#*DECL7aln1",
     "pass:<secret:password> -out"),
    ("keytool", "keytool -importkeystore -srcstorepass hunter90 -deststorepass hunter90", "hunter90",
     "-srcstorepass <secret:password>"),
    ("curl_u", "curl -u SKf6307934441bab5c91d5d5ac97c610cb:018f13167eb2c35fcaf823a3ab0be36f https://api.twilio.com",
     "018f13167eb2c35fcaf823a3ab0be36f", "https://api.twilio.com"),
    ("pgpassword", "+ PGPASSWORD='kGqLvSsApGfT2Hso' psql -h db", "kGqLvSsApGfT2Hso", "psql -h db"),
    ("cookie_name", "> Cookie: lang=en; connect.sid=7ca18002617a250dfe6f59a4a963ef13", "7ca18002617a250dfe6f59a4a963ef13",
     "lang=en; connect.sid=<secret:cookie>"),
    ("ssn", '{"applicant": {"ssn": "378-46-9162"}}', "378-46-9162", '"ssn": "<secret:national_id>"'),
    ("ssn_prose", "customer social security number: 516-64-8450 does not match", "516-64-8450", "does not match"),
    ("nino", "NINO RM 26 16 79 D verified", "RM 26 16 79 D", "NINO <secret:national_id> verified"),
    ("sin", "SIN 130 692 544 verified", "130 692 544", "SIN <secret:national_id>"),
    ("dni", "customer DNI: 41606959M does not match", "41606959M", "DNI: <secret:national_id>"),
    ("telegram", "POST https://api.telegram.org/bot1816080168:AAMsrpsBV1UlvvMJm0ByoFhyg0FowUFPWVs/sendMessage",
     "1816080168:AAMsrpsBV1UlvvMJm0ByoFhyg0FowUFPWVs", "/bot<secret:telegram_token>/sendMessage"),
    ("discord", "Improper token has been passed: O9KiinWHme9HMG0q-6TrhMM8.5jK_oT.mCrNNRr_Dqe9YE2voowL8WGc5MD",
     "O9KiinWHme9HMG0q-6TrhMM8.5jK_oT.mCrNNRr_Dqe9YE2voowL8WGc5MD", "passed: <secret:discord_token>"),
    ("docker", "docker login -u acmeci -p dckr_pat_uxDTPjw4FPeg8X5Dw2pM0wdIMeX", "dckr_pat_uxDTPjw4FPeg8X5Dw2pM0wdIMeX",
     "-p <secret:"),
    ("unnamed_url", "https://hooks.zapier.com/hooks/catch/240468/lk41nPntUlCIyNr8s9LiKUZ2kIUIsU6JDoanluFI/",
     "lk41nPntUlCIyNr8s9LiKUZ2kIUIsU6JDoanluFI", "/hooks/catch/240468/<secret:high_entropy>/"),
    ("unnamed_prose", "401 Unauthorized: 8CWM9ojh8IKASdkCd8kk186ObN6E2bK2aGX2UCeLDti",
     "8CWM9ojh8IKASdkCd8kk186ObN6E2bK2aGX2UCeLDti", "401 Unauthorized: <secret:high_entropy>"),
    ("phone_00", "Call the customer back on 0044 20 7946 0989", "0044 20 7946 0989", "back on <phone>"),
]

# issue 18: look-alikes of the new rules, which an on-call engineer needs as they are
NEGATIVES += [
    ("cache_key", 'msg="cache miss" cache_key=user:42:profile ttl=300s'),
    ("s3_key", "s3 upload bucket=acme-reports key=exports/2024/05/18/orders.csv"),
    ("idempotency_key", "idempotent retry idempotency_key=8759b265-3bb7-44c5-9003-c87214e38dce"),
    ("x_amz_id_2", "x-amz-id-2: QzwrGFfnlV3Jeh7PBkqnil3mnD7OtKT9YRdxTkA1uukFqnPAaEUtNgCGuwvoV23ZB0gtXCFi2lBH"),
    ("integrity", "checksum mismatch: want sha512-mvX/+kv0P+B0L5X4yPw9JQwZQ5kR8VE3JQikohHH5+xJk5e3UT/o1wYK1xeeeYvOf1aBtC"
                  "ZRCqcaXCsMb5FrFQ=="),
    ("ssh_public_key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7Xk2pQ9vR4tL8wN3mC6hF1jS5aY0bK7eD2gU9iO4zP deploy@ci"),
    ("ksuid", 'ksuid assigned id=2Ro2PpXyZ9kLm3Nq7RtVw4Hb8Jc'),
    ("base64_json", "payload=eyJvcmRlciI6IDQyLCAic3RhdHVzIjogInBhaWQiLCAiaXRlbXMiOiAzfQ=="),
    ("protobuf", "protobuf any: CgZjaGVja291dBIFdjIuMTQaBnNoYXJkMw== decoded ok"),
    ("password_words", "password reset email sent to user 4211; password too short (min 12)"),
    ("password_as_value", "auth auth_method=password token_type=Bearer expires_in=3600"),
    ("grant_type", "oauth grant_type=password client_id=checkout"),
    ("k8s_secret_name", 'MountVolume.SetUp failed for volume "db-credentials" : secret "db-credentials" not found'),
    ("systemd_unit", "systemd[1]: Started getty@tty1.service"),
    ("dd_trace_id", '{"dd.trace_id": "5552250635913309", "msg": "handled"}'),
    ("monkey", "monkey patched requests.Session"),
    ("pwd_dir", "PWD=/home/app HOME=/home/app SHELL=/bin/sh"),
    ("empty_pair", "DB_PASSWORD= DB_USER=app DB_HOST=pg-primary"),
    ("get_secret_value", "aws: GetSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf denied"),
    ("gzip_marker_order", "order_id=4884394881 amount_cents=46916 pid 12345 exited with code 137"),
    ("java_class", "at org.apache.http.impl.conn.PoolingHttpClientConnectionManager.requestConnection(X.java:42)"),
]


@pytest.mark.parametrize(("kind", "text", "secret", "expected"), POSITIVES, ids=[p[0] for p in POSITIVES])
def test_each_kind_is_redacted_readably(redactor: Redactor, kind: str, text: str, secret: str, expected: str) -> None:
    out = redactor.redact_text(text)
    assert secret not in out
    assert expected in out


@pytest.mark.parametrize(("kind", "text"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_look_alikes_are_left_alone(redactor: Redactor, kind: str, text: str) -> None:
    result = redactor.redact(text)
    assert result.text == text
    assert result.findings == []


@pytest.mark.parametrize("text", [p[1] for p in POSITIVES] + [n[1] for n in NEGATIVES])
def test_redacting_twice_equals_once(redactor: Redactor, text: str) -> None:
    once = redactor.redact_text(text)
    assert redactor.redact_text(once) == once


def test_placeholders_keep_the_text_readable(redactor: Redactor) -> None:
    text = (
        "user alice@example.com from 203.0.113.9 via 10.0.3.17 called "
        "postgres://app:hunter2FAKE@db:5432/shop with Authorization: Bearer FAKEbearer0example0token0123 "
        "and card 4111 1111 1111 1111"
    )
    assert redactor.redact_text(text) == (
        "user <email> from <ip> via 10.0.3.17 called "
        "postgres://app:<secret:password>@db:5432/shop with Authorization: Bearer <secret:bearer> "
        "and card <card>"
    )
    assert placeholder("aws_key") == "<secret:aws_key>"
    assert placeholder("email") == "<email>"


def test_findings_point_into_the_original_text(redactor: Redactor) -> None:
    text = "key AKIAIOSFODNN7EXAMPLE for bob@example.org"
    result = redactor.redact(text)
    assert isinstance(result, Redacted)
    assert result.changed
    assert result.findings == [
        Finding("aws_key", 4, 24),
        Finding("email", 29, 44),
    ]
    assert [text[f.start : f.end] for f in result.findings] == ["AKIAIOSFODNN7EXAMPLE", "bob@example.org"]


def test_specific_formats_win_over_generic_key_value(redactor: Redactor) -> None:
    assert redactor.redact_text(f'"token": "{GHP}"') == '"token": "<secret:github_token>"'
    assert redactor.redact_text("auth=Bearer FAKEbearer0example0token0123") == "auth=Bearer <secret:bearer>"


def test_a_url_keeps_its_user_and_host(redactor: Redactor) -> None:
    assert redactor.redact_text(f"https://x-access-token:{GHP}@github.com/acme/app.git") == (
        "https://x-access-token:<secret:github_token>@github.com/acme/app.git"
    )
    assert redactor.redact_text("redis://:r3dis-FAKE@redis-master:6379/0") == (
        "redis://:<secret:password>@redis-master:6379/0"
    )


def test_private_key_block_inside_json_string(redactor: Redactor) -> None:
    text = '{"private_key":"-----BEGIN PRIVATE KEY-----\\nMIIEvFAKE\\n-----END PRIVATE KEY-----\\n","x":1}'
    assert redactor.redact_text(text) == '{"private_key":"<secret:private_key>\\n","x":1}'


def test_lower_casing_that_changes_length_still_redacts(redactor: Redactor) -> None:
    # "İ".lower() is two characters: the key=value rule falls back to its case-insensitive pattern
    assert redactor.redact_text("İstanbul PASSWORD=hunter2FAKE") == "İstanbul PASSWORD=<secret:password>"


def test_empty_text(redactor: Redactor) -> None:
    assert redactor.redact("") == Redacted("", [])


class TestExtraSecrets:
    def test_configured_values_are_removed_wherever_they_appear(self) -> None:
        r = Redactor(extra_secrets=["plainLookingValue", "x"])
        assert r.redact_text("sent plainLookingValue twice: plainLookingValue") == (
            "sent <secret:configured> twice: <secret:configured>"
        )
        assert r.redact_text("x marks the spot") == "x marks the spot"  # too short to mask

    def test_values_are_literal_and_the_longest_wins(self) -> None:
        r = Redactor(extra_secrets=["a.b*c", "a.b*c+d(e"])
        assert r.redact_text("v=a.b*c+d(e w=a.b*c z=aXb*c") == (
            "v=<secret:configured> w=<secret:configured> z=aXb*c"
        )

    def test_without_extra_secrets_nothing_configured_is_matched(self) -> None:
        assert Redactor().redact_text("plainLookingValue") == "plainLookingValue"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("password", "password"),
        ("DB_PASSWORD", "password"),
        ("spring.datasource.password", "password"),
        ("dbPassword", "password"),
        ("client_secret", "secret"),
        ("api_key", "api_key"),
        ("X-Api-Key", "api_key"),
        ("access_token", "token"),
        ("X-Auth-Token", "token"),
        ("aws_secret_access_key", "aws_key"),
        ("private_key", "private_key"),
        ("sessionid", "session"),
        ("Set-Cookie", "cookie"),
        ("authorization", "auth"),
        ("token_count", None),
        ("max_tokens", None),
        ("auth_method", None),
        ("author", None),
        ("private_key_id", None),
        ("password_policy", None),
        ("PWD", None),
        ("trace_id", None),
        ("SEGMENT_WRITE_KEY", "api_key"),
        ("hmacKey", "api_key"),
        ("Ocp-Apim-Subscription-Key", "api_key"),
        ("DB_PASS", "password"),
        ("srcstorepass", "password"),
        ("registryCredential", "secret"),
        ("secretValue", "secret"),
        ("monkey", None),
        ("bypass", None),
        ("oauth", None),
        ("cache_key", None),
        ("idempotency_key", None),
        ("public_key", None),
        ("key_id", None),
    ],
)
def test_secret_kind_for_key(key: str, kind: str | None) -> None:
    assert secret_kind_for_key(key) == kind


def test_redact_field_masks_by_key_name(redactor: Redactor) -> None:
    assert redactor.redact_field("password", "letmein") == "<secret:password>"
    assert redactor.redact_field("auth", "failed") == "failed"
    assert redactor.redact_field("user", "alice@example.com") == "<email>"
    assert redactor.redact_field("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_module_level_redact_text() -> None:
    assert redact_text("mail bob@example.com") == "mail <email>"


class TestValidators:
    @pytest.mark.parametrize("number", ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"])
    def test_test_cards_are_cards(self, number: str) -> None:
        assert luhn_ok(number) and is_card_number(number)

    @pytest.mark.parametrize("number", ["4111111111111112", "1715658067512", "0000000000000000", "9999999999999995"])
    def test_non_cards(self, number: str) -> None:
        assert not is_card_number(number)

    def test_iban_mod97(self) -> None:
        assert iban_ok("GB82WEST12345698765432")
        assert not iban_ok("GB82WEST12345698765433")
        assert not iban_ok("XX82WEST12345698765432")

    @pytest.mark.parametrize(
        ("address", "kept"),
        [("10.1.2.3", True), ("172.31.0.1", True), ("192.168.0.1", True), ("127.0.0.1", True),
         ("169.254.169.254", True), ("100.64.1.1", True), ("203.0.113.9", False), ("8.8.8.8", False),
         ("999.1.1.1", None)],
    )
    def test_ip_policy(self, address: str, kept: bool | None) -> None:
        assert ipv4_is_kept(address) is kept


# ------------------------------------------------------------------------------------------ corpus


def _corpus() -> list[dict[str, object]]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_corpus_shape() -> None:
    rows = _corpus()
    negatives = [r for r in rows if not r["secrets"]]
    assert len(rows) >= 300
    assert len(negatives) / len(rows) >= 0.40
    for row in rows:
        for secret in row["secrets"]:  # type: ignore[attr-defined]
            assert secret in row["text"], row["id"]  # type: ignore[operator]


def test_corpus_recall_and_false_positives(redactor: Redactor) -> None:
    rows = _corpus()
    secrets = removed = negatives = changed = 0
    misses: list[str] = []
    for row in rows:
        text = str(row["text"])
        out = redactor.redact_text(text)
        assert redactor.redact_text(out) == out, f"not idempotent: #{row['id']}"
        labelled: list[str] = row["secrets"]  # type: ignore[assignment]
        if labelled:
            for secret in labelled:
                secrets += 1
                if secret in out:
                    misses.append(f"#{row['id']}: {secret}")
                else:
                    removed += 1
        else:
            negatives += 1
            if out != text:
                changed += 1
                misses.append(f"#{row['id']} changed: {out}")
    assert removed / secrets >= 0.99, misses
    assert changed / negatives <= 0.02, misses


@pytest.mark.parametrize("name", ["dev.jsonl", "heldout.jsonl"])
def test_issue_18_corpus_halves_meet_their_targets(redactor: Redactor, name: str) -> None:
    """Totals only (the held-out half is never read line by line): recall >= 99 %, no kind below 95 %,
    negatives changed <= 1 %."""
    with (FIXTURES / name).open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    per_kind: dict[str, list[int]] = {}
    negatives = changed = 0
    for row in rows:
        out = redactor.redact_text(row["text"])
        if row["secrets"]:
            found = per_kind.setdefault(row["kind"], [0, 0])
            found[0] += sum(secret not in out for secret in row["secrets"])
            found[1] += len(row["secrets"])
        else:
            negatives += 1
            changed += out != row["text"]
    assert len(per_kind) >= 40 and sum(n for _, n in per_kind.values()) >= 600
    assert sum(r for r, _ in per_kind.values()) / sum(n for _, n in per_kind.values()) >= 0.99
    assert min(r / n for r, n in per_kind.values()) >= 0.95
    assert changed / negatives <= 0.01
