"""Secret redaction of meta, raw HTTP dumps and curl commands."""

from __future__ import annotations

from integrations.nuclei import REDACTED, redact_http, redact_meta

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def test_redact_meta_keeps_keys() -> None:
    meta: dict[str, object] = {"username": "admin", "password": "password", "n": {"x": 1}}
    assert redact_meta(meta) == {"username": REDACTED, "password": REDACTED, "n": REDACTED}
    assert redact_meta({}) == {}
    assert meta["password"] == "password"  # input untouched


def test_redact_raw_request() -> None:
    raw = (
        "POST /login.php?token=abc123&page=2 HTTP/1.1\r\n"
        "Host: dvwa_dvwa_1\r\n"
        "Authorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n"
        "proxy-authorization: Bearer xyz\r\n"
        "Cookie: security=low; PHPSESSID=fbeb4812f1bc3aebc7ebd5f969d0ad00\r\n"
        "X-Api-Key: k-123\r\n"
        "X-Auth-Token: t-456\r\n"
        "X-Session-Id: s-789\r\n"
        "X-Client-Secret: shh\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "\r\n"
        "username=admin&password=password&Login=Login&user_token=0ad6e164d446ae529b"
    )
    out = redact_http(raw)
    for secret in (
        "YWRtaW46",
        "xyz",
        "fbeb4812",
        "k-123",
        "t-456",
        "s-789",
        "shh",
        "abc123",
        "password&",
        "0ad6e164",
    ):
        assert secret not in out, secret
    assert "Authorization: [REDACTED]\r\n" in out
    assert "proxy-authorization: [REDACTED]\r\n" in out
    assert "Cookie: [REDACTED]\r\n" in out
    assert "Host: dvwa_dvwa_1\r\n" in out
    assert "Content-Type: application/x-www-form-urlencoded\r\n" in out
    assert "username=admin&password=[REDACTED]&Login=Login&user_token=[REDACTED]" in out
    assert "page=2" in out
    assert redact_http(out) == out  # idempotent


def test_redact_response() -> None:
    raw = (
        "HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; HttpOnly\r\nContent-Type: application/json\r\n\r\n"
        '{"access_token": "' + JWT + '", "api_key": "zzz", "user": "bob"}'
    )
    out = redact_http(raw)
    assert "Set-Cookie: [REDACTED]" in out
    assert JWT not in out and "zzz" not in out
    assert '"user": "bob"' in out


def test_redact_curl() -> None:
    curl = (
        "curl -X 'GET' -d 'username=admin&password=password' -H 'Connection: close' "
        "-H 'Cookie: security=low; PHPSESSID=fbeb48' -H \"Authorization: Bearer abc.def\" "
        "-b 'sid=123' --cookie other=1 -u admin:hunter2 --user=root:toor "
        "'https://bob:pw@example.com/x?api_key=k1'"
    )
    out = redact_http(curl)
    for secret in (
        "fbeb48",
        "abc.def",
        "sid=123",
        "other=1",
        "hunter2",
        "toor",
        ":pw@",
        "k1",
        "password=password",
    ):
        assert secret not in out, secret
    assert "-H 'Cookie: [REDACTED]'" in out
    assert '-H "Authorization: [REDACTED]"' in out
    assert "-H 'Connection: close'" in out
    assert "-u [REDACTED]" in out and "-b '[REDACTED]'" in out


def test_tokens_anywhere() -> None:
    text = f"token in body: {JWT} and Bearer abcdef123 end"
    out = redact_http(text)
    assert JWT not in out and "abcdef123" not in out
    assert "Bearer [REDACTED]" in out
    assert redact_http("") == ""
    plain = "HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\nnothing here"
    assert redact_http(plain) == plain
