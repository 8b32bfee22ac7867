import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from pipeline.alerts.ack import (
    DEFAULT_TTL, AckClaim, InvalidToken, ack_url, check_secret, sign, verify,
)
from pipeline.config import AlertsConfig
from pipeline.schema import stable_id

SECRET = "k3y-for-tests-only-0123456789abcdef"  # 35 bytes
OLD = "the-previous-secret-also-32-bytes-long!"
NOW = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)
EXPIRES = NOW + DEFAULT_TTL
ALERT = stable_id("alert", "item-1", "sro")


def token(secret=SECRET, expires=EXPIRES, alert=ALERT, person="reyes"):
    return sign(alert, person, expires, secret)


def raw(tok):
    return bytearray(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))


def enc(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def reason(tok, secret=SECRET, now=NOW):
    with pytest.raises(InvalidToken) as caught:
        verify(tok, secret, now)
    return caught.value.reason


# --- round trip ----------------------------------------------------------------------------------

def test_round_trip_gives_back_alert_person_and_expiry():
    claim = verify(token(), SECRET, NOW)
    assert claim == AckClaim(alert_id=ALERT, person_id="reyes", expires_at=EXPIRES)
    assert claim.expires_at.tzinfo is not None


def test_token_is_url_safe_and_compact():
    tok = token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", tok)
    assert len(tok) <= 90  # a 32-hex alert id and a short person id fit a single mail line
    assert raw(tok)[0] == 1  # version byte leads


def test_ids_are_carried_verbatim_including_non_ascii():
    claim = verify(sign("a", "zoë.o'neil", EXPIRES, SECRET), SECRET, NOW)
    assert (claim.alert_id, claim.person_id) == ("a", "zoë.o'neil")


def test_expiry_is_rounded_down_to_the_second_and_kept_in_utc():
    expires = datetime(2025, 3, 5, 8, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=-6)))
    claim = verify(token(expires=expires), SECRET, NOW)
    assert claim.expires_at == expires.replace(microsecond=0)
    assert claim.expires_at.utcoffset() == timedelta(0)


def test_secret_may_be_a_secretstr_or_bytes():
    assert verify(sign(ALERT, "reyes", EXPIRES, SecretStr(SECRET)), SECRET.encode(), NOW).person_id == "reyes"


# --- rejections ----------------------------------------------------------------------------------

def test_every_changed_payload_byte_is_a_bad_signature():
    good = raw(token())
    for i in range(1, len(good) - 16):  # byte 0 is the version, checked on its own
        forged = bytearray(good)
        forged[i] ^= 0x01
        assert reason(enc(forged)) == "bad_signature", i


def test_every_changed_signature_byte_is_a_bad_signature():
    good = raw(token())
    for i in range(len(good) - 16, len(good)):
        forged = bytearray(good)
        forged[i] ^= 0x80
        assert reason(enc(forged)) == "bad_signature", i


def test_forging_another_person_or_a_later_expiry_fails():
    good = raw(token(person="reyes"))
    assert reason(enc(good.replace(b"reyes", b"patel"))) == "bad_signature"
    later = bytearray(good)
    later[1:5] = (int.from_bytes(good[1:5], "big") + 86400).to_bytes(4, "big")
    assert reason(enc(later)) == "bad_signature"


def test_every_truncation_is_rejected():
    tok = token()
    for n in range(len(tok)):
        with pytest.raises(InvalidToken):
            verify(tok[:n], SECRET, NOW)


def test_dropping_signature_bytes_is_rejected():
    good = raw(token())
    assert reason(enc(good[:-1])) == "bad_signature"  # a 15-byte tail never equals a 16-byte MAC
    assert reason(enc(good[:-16])) == "bad_signature"


def test_token_from_another_secret_is_a_bad_signature():
    assert reason(token(secret="some-other-deployment-secret-32-bytes")) == "bad_signature"


def test_unknown_version_is_malformed():
    forged = raw(token())
    forged[0] = 2
    assert reason(enc(forged)) == "malformed"


@pytest.mark.parametrize("bad", ["", "!!!!", "abc def", "a" * 5000, "x", "Zm9v", "Zm9v==", "Zm9v.YmFy", "ÿÿÿÿ"])
def test_junk_is_malformed(bad):
    assert reason(bad) == "malformed"


def test_non_canonical_base64_is_malformed():
    tok = token(person="reyes2")
    # The last character encodes some unused low bits when the length is not a multiple of 3.
    assert len(raw(tok)) % 3 != 0
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(tok[-1])
    twin = tok[:-1] + alphabet[last | 1] if last % 2 == 0 else tok[:-1] + alphabet[last & ~1]
    assert base64.urlsafe_b64decode(twin + "=" * (-len(twin) % 4)) == bytes(raw(tok))
    assert reason(twin) == "malformed"


def test_padding_is_not_accepted():
    tok = token()
    assert reason(tok + "=" * (-len(tok) % 4 or 4)) == "malformed"


def test_expired_at_the_exact_boundary():
    tok = token()
    assert verify(tok, SECRET, EXPIRES - timedelta(microseconds=1)).alert_id == ALERT
    assert reason(tok, now=EXPIRES) == "expired"
    assert reason(tok, now=EXPIRES + timedelta(days=300)) == "expired"


def test_now_in_another_zone_compares_as_an_instant():
    tok = token()
    chicago = timezone(timedelta(hours=-6))
    assert verify(tok, SECRET, (EXPIRES - timedelta(seconds=1)).astimezone(chicago))
    assert reason(tok, now=EXPIRES.astimezone(chicago)) == "expired"


def test_forged_and_expired_reports_the_forgery():
    forged = raw(token())
    forged[-1] ^= 0x01
    assert reason(enc(forged), now=EXPIRES + timedelta(hours=1)) == "bad_signature"


def test_error_message_does_not_repeat_the_token():
    tok = token()
    with pytest.raises(InvalidToken) as caught:
        verify(tok, SECRET, EXPIRES)
    assert tok not in str(caught.value)
    assert str(caught.value).startswith("expired:")


# --- secrets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["change-me", SecretStr("change-me"), b"change-me"])
def test_default_secret_is_refused_everywhere(weak):
    for call in (lambda: sign(ALERT, "reyes", EXPIRES, weak), lambda: verify(token(), weak, NOW),
                 lambda: verify(token(), [SECRET, weak], NOW), lambda: check_secret(weak)):
        with pytest.raises(ValueError, match="alerts.ack_secret.*change-me"):
            call()


def test_short_secret_is_refused():
    with pytest.raises(ValueError, match="31 bytes; use at least 32"):
        sign(ALERT, "reyes", EXPIRES, "x" * 31)
    check_secret("x" * 32)
    check_secret(["x" * 32, SecretStr("y" * 40)])


def test_no_secret_is_refused():
    with pytest.raises(ValueError, match="no ack secret"):
        verify(token(), [], NOW)


# --- rotation ------------------------------------------------------------------------------------

def test_rotation_first_secret_signs_all_verify():
    old_token = token(secret=OLD)
    assert verify(old_token, [SECRET, OLD], NOW).person_id == "reyes"
    assert reason(old_token, secret=[SECRET]) == "bad_signature"  # once the old secret is dropped
    new_token = sign(ALERT, "reyes", EXPIRES, [SECRET, OLD])
    assert verify(new_token, SECRET, NOW).person_id == "reyes"
    assert verify(new_token, [SECRET, OLD], NOW).person_id == "reyes"
    assert reason(new_token, secret=OLD) == "bad_signature"
    assert verify(new_token, [OLD, SECRET], NOW).person_id == "reyes"


# --- argument checks -----------------------------------------------------------------------------

def test_naive_datetimes_are_programming_errors():
    with pytest.raises(ValueError, match="naive"):
        sign(ALERT, "reyes", datetime(2025, 3, 5), SECRET)
    with pytest.raises(ValueError, match="naive"):
        verify(token(), SECRET, datetime(2025, 3, 4))


@pytest.mark.parametrize("alert,person", [("", "reyes"), (ALERT, ""), ("a" * 256, "reyes"), (ALERT, "é" * 128)])
def test_ids_must_fit(alert, person):
    with pytest.raises(ValueError, match="1-255 bytes"):
        sign(alert, person, EXPIRES, SECRET)


def test_expiry_must_fit_four_bytes():
    with pytest.raises(ValueError, match="outside"):
        sign(ALERT, "reyes", datetime(2107, 1, 1, tzinfo=UTC), SECRET)
    with pytest.raises(ValueError, match="outside"):
        sign(ALERT, "reyes", datetime(1969, 12, 31, tzinfo=UTC), SECRET)


# --- ack_url -------------------------------------------------------------------------------------

@pytest.mark.parametrize("base", ["https://review.example.org", "https://review.example.org/",
                                  "http://127.0.0.1:8081/console"])
def test_ack_url(base):
    tok = token()
    url = ack_url(base, tok)
    assert url == base.rstrip("/") + "/ack/" + tok
    assert verify(url.rsplit("/", 1)[1], SECRET, NOW).alert_id == ALERT


@pytest.mark.parametrize("base", ["review.example.org", "javascript:alert(1)", "ftp://x.example",
                                  "https://x.example/?a=1", "https://x.example/#f", "https://"])
def test_ack_url_refuses_odd_bases(base):
    with pytest.raises(ValueError, match="ack base URL"):
        ack_url(base, token())


# --- properties ----------------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 st.binary(min_size=0, max_size=600).map(enc),
                 st.binary(min_size=23, max_size=80).map(lambda b: enc(b"\x01" + b))))
def test_random_strings_never_verify_and_only_raise_invalid_token(text):
    with pytest.raises(InvalidToken) as caught:
        verify(text, [SECRET, OLD], NOW)
    assert caught.value.reason in ("malformed", "bad_signature", "expired")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_character_change_never_verifies(data):
    tok = token()
    i = data.draw(st.integers(0, len(tok) - 1))
    char = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.~ ").filter(
        lambda c: c != tok[i]))
    with pytest.raises(InvalidToken):
        verify(tok[:i] + char + tok[i + 1:], SECRET, NOW)


@settings(max_examples=200, deadline=None)
@given(alert=st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode()) <= 255),
       person=st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,40}", fullmatch=True),
       seconds=st.integers(1, 2**32 - 1))
def test_round_trip_for_any_ids_and_expiry(alert, person, seconds):
    expires = datetime.fromtimestamp(seconds, UTC)
    claim = verify(sign(alert, person, expires, SECRET), SECRET, expires - timedelta(seconds=1))
    assert claim == AckClaim(alert, person, expires)


def test_unset_secret_is_generated_once_per_install_and_kept_private(tmp_path):
    from pipeline.alerts.ack_secret import SECRET_FILE, ack_secrets
    from pipeline.config import DEFAULT_CONFIG, load_settings

    settings = load_settings(DEFAULT_CONFIG)
    assert AlertsConfig().ack_secret is None
    mine = settings.model_copy(update={"general": settings.general.model_copy(update={"data_dir": tmp_path})})
    first, again = ack_secrets(mine), ack_secrets(mine)
    assert first == again and len(first) == 1 and len(first[0]) >= 32
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    other = mine.model_copy(update={"general": mine.general.model_copy(update={"data_dir": tmp_path / "other"})})
    assert ack_secrets(other) != first  # installs never share a generated secret


def test_a_weak_configured_secret_stops_the_pager_with_a_config_error(tmp_path):
    from pipeline.bootstrap import build_pager
    from pipeline.config import DEFAULT_CONFIG, ConfigError, load_settings

    settings = load_settings(DEFAULT_CONFIG)
    weak = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"ack_secret": SecretStr("change-me")}),
                                       "general": settings.general.model_copy(update={"data_dir": tmp_path})})
    with pytest.raises(ConfigError, match="change-me"):
        build_pager(weak, store=None)
