"""The edge's additions for gateways (form bodies, plain-text replies, gateway
keys declared on routes) and the SMS sender, without a database: declarations
the framework could not protect fail at import; `parse_form`'s strictness; the
HTTP sender against a real sink on 127.0.0.1, its refusals and its URL rule."""

from __future__ import annotations

import pytest
from chalice.app import Chalice

from chalicelib.api.http import Api, RouteDeclarationError, parse_form
from chalicelib.errors import ValidationError
from chalicelib.notify import sms
from dev import sms_sink

FORM = "application/x-www-form-urlencoded"


def test_a_gateway_route_must_declare_its_one_channel_and_take_gateway_keys_only() -> None:
    api = Api(Chalice(app_name="t"))

    def declare(path: str, **kw: object) -> None:
        api.route(path, "POST", summary="s", **kw)(lambda call: "")  # type: ignore[arg-type]

    with pytest.raises(RouteDeclarationError, match="one declared channel"):
        declare("/v1/a", roles=("gateway",))
    with pytest.raises(RouteDeclarationError, match="one declared channel"):
        declare("/v1/b", roles=("gateway", "operator"), channel="ussd")
    with pytest.raises(RouteDeclarationError, match="only a gateway route"):
        declare("/v1/c", roles=("operator",), channel="ussd")
    with pytest.raises(RouteDeclarationError, match="body_format"):
        declare("/v1/d", roles=("operator",), body_format="xml")
    with pytest.raises(RouteDeclarationError, match="model of its form"):
        declare("/v1/e", roles=("operator",), body_format="form")
    declare("/v1/f", roles=("gateway",), channel="sms", body="SmsIn")
    assert api.specs[-1].auth == "gateway_key"


def test_parse_form_is_strict() -> None:
    assert parse_form(b"a=1&b=&c=x+y%2A", FORM) == {"a": "1", "b": "", "c": "x y*"}
    assert parse_form("a=1", FORM + "; charset=utf-8") == {"a": "1"}
    assert parse_form("", FORM) == {}
    for raw, content_type, why in [
        ("a=1", "application/json", FORM),
        ("a=1", "text/plain", FORM),
        ("a=1", None, FORM),
        ("a=1", FORM + "; charset=iso-8859-1", "UTF-8"),
        ("a=1&a=2", FORM, "repeats"),
        ("a=1&&b=2", FORM, "valid"),
        ("a", FORM, "valid"),
        ("a=%ff", FORM, "valid"),
        (b"a=\xff", FORM, "valid"),
        ("&".join(f"f{n}=1" for n in range(17)), FORM, "valid"),
    ]:
        with pytest.raises(ValidationError, match=why):
            parse_form(raw, content_type)


def test_the_http_sender_posts_each_message_to_the_sms_centre() -> None:
    sink = sms_sink.start()
    try:
        sender = sms.HttpSender(sink.url)
        sender.send(sms.Sms("84961234567", "Diem cua ban: 1.000", "ref-1"))
        assert sink.messages() == [{"to": "84961234567", "text": "Diem cua ban: 1.000", "ref": "ref-1"}]
        with pytest.raises(ValueError, match=r"GSM 03\.38"):
            sender.send(sms.Sms("84961234567", "Điểm", "ref-2"))
        with pytest.raises(ValueError, match="two segments"):
            sender.send(sms.Sms("84961234567", "x" * 307, "ref-3"))
        with pytest.raises(sms.SmsNotSent):
            sms.HttpSender(sink.url.replace("/sms", "/nowhere")).send(sms.Sms("84961234567", "x", "r"))
    finally:
        sink.stop()
    assert len(sink.messages()) == 1
    with pytest.raises(sms.SmsNotSent):  # nothing listens there any more
        sms.HttpSender(sink.url, timeout=2).send(sms.Sms("84961234567", "x", "ref-4"))


def test_the_sms_centre_must_be_https_or_a_local_sink() -> None:
    for url in ("https://sms.example.com/send", "http://127.0.0.1:9/sms", "http://localhost:9/sms", "http://[::1]:9/"):
        assert sms.HttpSender(url).url == url
    for url in ("http://sms.example.com/send", "ftp://127.0.0.1/", "file:///etc/passwd", "https://", "127.0.0.1:9"):
        with pytest.raises(ValueError, match="DIEM_SMS_URL"):
            sms.HttpSender(url)
    recording = sms.RecordingSender(size=2)
    for n in range(3):
        recording.send(sms.Sms("84961234567", f"tin {n}", f"ref-{n}"))
    assert [m.ref for m in recording.sent] == ["ref-1", "ref-2"]
