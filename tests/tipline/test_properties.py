"""Property: no body, content type or passphrase makes the tip API answer 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from tipline_server import serving


FIELDS = st.sampled_from(["message", "school", "when_where", "urgent", "contact", "ip", ""])
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
                      lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                      max_leaves=6)
# Multipart bodies that are almost right: a picture part with random bytes, parts cut or repeated.
PART = st.builds(lambda name, filename, data: (f'--xyz\r\nContent-Disposition: form-data; name="{name}"'
                                               + (f'; filename="{filename}"' if filename is not None else "")
                                               + "\r\n\r\n").encode() + data + b"\r\n",
                 st.sampled_from(["message", "attachment", "code", "passphrase", "x"]),
                 st.none() | st.text(max_size=8), st.binary(max_size=200))
MULTIPART = st.builds(lambda parts, end: b"".join(parts) + (b"--xyz--\r\n" if end else b""),
                      st.lists(PART, max_size=4), st.booleans())
BODIES = st.one_of(
    st.dictionaries(FIELDS, VALUES, max_size=6).map(lambda d: json.dumps(d).encode()),
    st.builds(lambda m: json.dumps({"message": m}).encode(), st.text(max_size=6000)),
    st.binary(max_size=300),
    MULTIPART,
)
TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                         "application/x-www-form-urlencoded", "", "application/json; charset=latin-1",
                         "multipart/form-data", "multipart/form-data; boundary=xyz"])


def test_random_requests_never_get_a_5xx(rt, tmp_path):
    with serving(rt, tmp_path, submit_limit=10_000, lookup_limit=10_000) as t:

        @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=BODIES, ctype=TYPES, path=st.sampled_from(["/api/tips", "/", "/check", "/check/followup",
                                                               "/api/tips/ABCDEFGHJK/messages"]),
               phrase=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
        def check(body, ctype, path, phrase):
            headers = {"Content-Type": ctype} if ctype else {}
            if phrase.strip():  # h11 refuses header values with edge whitespace client-side
                headers["X-Tip-Passphrase"] = phrase.strip()
            r = t.http.post(path, content=body, headers=headers)
            assert r.status_code < 500, (r.status_code, r.text)
            if r.status_code == 201 and path == "/api/tips":
                assert set(r.json()) == {"tip_id", "code", "passphrase"}

        check()
