#!/usr/bin/env python3
r"""Sign in to a real Synapse through the test OpenID provider, playing a native client and its browser
with nothing but python3's standard library (urllib + http.cookiejar). It is the reference for the
Rust tests, which do the browser part with reqwest: every request below is one the test must make.

  tests/support/oidc/play.py                 start a provider + Synapse 1.156 (oauth) and a provider +
                                             Synapse 1.163 (sso) in a temp dir, play both, stop them
  tests/support/oidc/play.py oauth HS_URL    play OAuth 2.0 against a running SYNAPSE_AUTH=oauth server
  tests/support/oidc/play.py sso HS_URL      play SSO against a running SYNAPSE_AUTH=sso server
  tests/support/oidc/play.py --tls           the same over HTTPS: providers started with
                                             scripts/oidc.sh start --tls, Synapse with OIDC_CA_FILE
  options: --user alice --password alice-password --idp vestibule --keep (keep the temp dir)
           --ca FILE (trust this CA for https, e.g. PROVIDER_DIR/ca.pem; oauth/sso modes)
           --tls with oauth/sso: insist on an https issuer

The browser: one cookie jar for the whole sign-in, redirects followed by hand (3xx + Location,
relative Locations resolved against the request URL) and never to the client's own loopback
redirect URI, which is where the browser stops and the code/loginToken is read from the query. Both
servers are on 127.0.0.1 (other ports): cookies do not care about ports, their names do not collide.
Cookies marked Secure must be sent over plain http to 127.0.0.1 (browsers treat loopback as a
secure context); Python's cookiejar does not by default (see LoopbackSecureCookies), nor does every
HTTP client's cookie store.

OAuth 2.0 (MSC3861; Synapse 1.156.0 with SYNAPSE_AUTH=oauth, provider tests/support/oidc/provider.mjs)
  1. GET  HS/_matrix/client/versions. Synapse 1.156 lists up to v1.12, so ruma (matrix-sdk 0.18) asks
     the unstable path next; the stable one needs v1.15. Synapse serves both, same JSON.
  2. GET  HS/_matrix/client/unstable/org.matrix.msc2965/auth_metadata   (or /_matrix/client/v1/auth_metadata)
     -> the provider's metadata: issuer (http://127.0.0.1:P, no trailing slash), authorization_endpoint
     ISS/auth, token_endpoint ISS/token, registration_endpoint ISS/reg, revocation_endpoint
     ISS/token/revocation, introspection_endpoint ISS/token/introspection, code_challenge_methods [S256].
     (GET HS/_matrix/client/v3/login answers 404: there is no password login.)
  3. POST ISS/reg  JSON {"application_type": "native", "client_name": ..., "client_uri": ...,
     "logo_uri", "policy_uri", "tos_uri", "redirect_uris": ["http://127.0.0.1/callback"],
     "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
     "token_endpoint_auth_method": "none"}  -> 201 {"client_id": ...}
  4. Browser: GET ISS/auth?response_type=code&client_id=C&redirect_uri=http://127.0.0.1:RP/callback
     &scope=urn:matrix:org.matrix.msc2967.client:api:*+urn:matrix:org.matrix.msc2967.client:device:D
     &state=S&code_challenge=B64URL(SHA256(V))&code_challenge_method=S256
     (any port RP: the registered http://127.0.0.1/callback matches any loopback port; the device
     scope may also be the stable urn:matrix:client:device:D, the API scope urn:matrix:client:api:*)
     -> 303 Location: /interaction/UID   Set-Cookie: _interaction (Path=/interaction/UID),
        _interaction_resume (Path=/auth/UID), each with a .sig twin; HttpOnly, not Secure
  5. GET  ISS/interaction/UID  (cookie _interaction) -> 200 HTML <form method="post"
     action="/interaction/UID/login"> with the inputs "login" and "password"
  6. POST ISS/interaction/UID/login  Content-Type: application/x-www-form-urlencoded
     login=alice&password=alice-password  -> 303 Location: ISS/auth/UID   (wrong password: 401 + form)
  7. GET  ISS/auth/UID  (cookie _interaction_resume) -> 303 Location:
     http://127.0.0.1:RP/callback?code=CODE&state=S&iss=ISS   Set-Cookie: _session (the provider's
     browser session: a later sign-in with the same jar skips the form and goes 4 -> 303 /interaction/
     UID2 -> 303 /auth/UID2 -> 303 redirect). No consent page, ever.
  8. POST ISS/token  form grant_type=authorization_code&code=CODE&redirect_uri=(as in 4)&client_id=C
     &code_verifier=V  -> {"access_token", "refresh_token", "expires_in", "scope", "token_type": "Bearer"}
     Meanwhile the provider has created @alice:HS_NAME and device D in Synapse (admin API).
  9. GET  HS/_matrix/client/v3/account/whoami  Authorization: Bearer AT  -> {"user_id":
     "@alice:127.0.0.1:HSPORT", "device_id": "D"}
 10. POST ISS/token  form grant_type=refresh_token&refresh_token=RT&client_id=C  -> new AT and RT (the
     refresh token rotates; reusing an old one ends the grant); whoami again.
     An expired AT: whoami answers 401 M_UNKNOWN_TOKEN (the provider's introspection carries
     expires_in), which makes matrix-sdk refresh; OIDC_ACCESS_TOKEN_TTL=4 shows it in seconds.
 11. POST ISS/token/revocation  form token=AT&token_type_hint=access_token&client_id=C  -> 200 (what
     matrix-sdk's oauth().logout() sends). The whole grant ends: RT is refused (400 invalid_grant),
     the provider's introspection says {"active": false}, GET ISS/test/revoked lists the grant with
     its username and device_id, and the device is deleted in Synapse. Synapse itself caches an
     introspection answer for 2 minutes or its expires_in, whichever is sooner: whoami with the
     revoked AT answers 401 only once that runs out (at once for an AT Synapse has not seen).

TLS (--tls; the provider started with scripts/oidc.sh start --tls, Synapse with OIDC_CA_FILE)
  The issuer is https://127.0.0.1:P and so is every URL of the metadata, as ruma's validate_urls()
  and the oauth2 crate's revocation (ConfigurationError::InsecureUrl otherwise) want. Every request
  to ISS above is the same over https, with a client that trusts PROVIDER_DIR/ca.pem (here an
  ssl.SSLContext loading it; reqwest/rustls or OpenSSL: SSL_CERT_FILE=PROVIDER_DIR/ca.pem). The
  provider's cookies are then Secure, sent over https as any cookie jar does; Synapse stays plain
  http (its Secure cookies still need LoopbackSecureCookies). Synapse makes its own calls to ISS
  (metadata, introspection, SSO token and userinfo) trusting the CA through SSL_CERT_FILE.
  Step 11 (the revocation matrix-sdk's logout sends) is then exactly what matrix-sdk can send.

SSO (m.login.sso; Synapse 1.163.2 with SYNAPSE_AUTH=sso, same provider)
  1. GET  HS/_matrix/client/v3/login -> flows include {"type": "m.login.sso", "identity_providers":
     [{"id": "oidc-vestibule", "name": ...}]} (and m.login.password, m.login.token)
  2. Browser: GET HS/_matrix/client/v3/login/sso/redirect/oidc-vestibule?redirectUrl=http://127.0.0.1:RP/
     -> 302 Location: ISS/auth?response_type=code&client_id=synapse-sso&redirect_uri=HS/_synapse/client/
        oidc/callback&scope=openid+profile&state&nonce&code_challenge...
        Set-Cookie: oidc_session=MACAROON; Path=/_synapse/client/oidc; HttpOnly; Secure; SameSite=None
        and oidc_session_no_samesite (same, no SameSite)   <- Secure, over http: must be kept and sent
  3. -> 5. as OAuth 4-7: /interaction/UID form, POST login+password, GET ISS/auth/UID
     -> 303 Location: HS/_synapse/client/oidc/callback?code=..&state=..&iss=..
  6. GET  HS/_synapse/client/oidc/callback?...  (cookies oidc_session, oidc_session_no_samesite)
     -> 302 Location: http://127.0.0.1:RP/?loginToken=LT   (no "Continue to your account" page: the
        redirect is in sso.client_whitelist; a missing cookie gives 400 "Missing session cookie")
     First sign-in of a user registers @<preferred_username>:HS_NAME.
  7. POST HS/_matrix/client/v3/login  {"type": "m.login.token", "token": LT} -> access_token, device_id
  8. GET  HS/_matrix/client/v3/account/whoami -> the user.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html.parser
import http.cookiejar
import json
import os
import random
import secrets
import shutil
import ssl
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
SYNAPSE_SH = os.path.join(ROOT, "scripts", "synapse.sh")
OIDC_SH = os.path.join(ROOT, "scripts", "oidc.sh")

API_UNSTABLE = "urn:matrix:org.matrix.msc2967.client:api:*"
DEVICE_UNSTABLE = "urn:matrix:org.matrix.msc2967.client:device:"
API_STABLE = "urn:matrix:client:api:*"
DEVICE_STABLE = "urn:matrix:client:device:"

# The defaults of scripts/oidc.sh / provider.mjs.
INTROSPECTION_CLIENT = ("synapse-msc3861", "vestibule-test-msc3861-secret")
ADMIN_TOKEN = "vestibule-test-admin-token"


class PlayError(Exception):
    pass


def step(msg: str) -> None:
    print(f"play: {msg}", flush=True)


# ------------------------------------------------------------------------------------------ http

class LoopbackSecureCookies(http.cookiejar.DefaultCookiePolicy):
    """Send Secure cookies over http to 127.0.0.1 / [::1] / localhost, as browsers do."""

    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        if host in ("127.0.0.1", "::1", "localhost"):
            return True
        return super().return_ok_secure(cookie, request)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str):
        self.status, self.headers, self.body, self.url = status, headers, body, url

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise PlayError(f"{self.url}: HTTP {self.status}, not JSON: {self.body[:300]!r}")

    @property
    def location(self) -> str | None:
        loc = self.headers.get("Location")
        return urllib.parse.urljoin(self.url, loc) if loc else None

    def __repr__(self):
        return f"HTTP {self.status} {self.url}: {self.body[:300]!r}"


class Http:
    """One user agent: a cookie jar (browser) or none (the app), never following redirects; over
    https trusting the CA file ca (the test provider's) when given, else the system's roots."""

    def __init__(self, cookies: bool, ca: str | None = None):
        self.jar = http.cookiejar.CookieJar(policy=LoopbackSecureCookies()) if cookies else None
        handlers = [NoRedirect()]
        if ca:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
        if self.jar is not None:
            handlers.append(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method, url, *, json_body=None, form=None, headers=None, token=None) -> Response:
        h = dict(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            h["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            h["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with self.opener.open(req, timeout=30) as r:
                return Response(r.status, r.headers, r.read(), url)
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read(), url)
        except urllib.error.URLError as e:
            hint = (" (an https provider of scripts/oidc.sh start --tls: pass --ca PROVIDER_DIR/ca.pem)"
                    if isinstance(e.reason, ssl.SSLCertVerificationError) else "")
            raise PlayError(f"{method} {url}: {e.reason}{hint}") from None

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def cookie_names(self) -> list[str]:
        return sorted(f"{c.name}{' (Secure)' if c.secure else ''}" for c in self.jar) if self.jar else []


class Forms(html.parser.HTMLParser):
    """The forms of a page: [{"action", "method", "inputs": {name: value}}]."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                               "inputs": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["inputs"][a["name"]] = a.get("value") or ""


def expect(resp: Response, status: int, what: str) -> Response:
    if resp.status != status:
        raise PlayError(f"{what}: expected HTTP {status}, got {resp!r}")
    return resp


def browse_until(browser: Http, url: str, stop_prefix: str, user: str, password: str,
                 log: list[str]) -> str:
    """Follow redirects from url, submitting the provider's login form when it shows, until a
    redirect to stop_prefix (the client's loopback redirect URI); return that URL."""
    for _ in range(20):
        if url.startswith(stop_prefix):
            return url
        r = browser.get(url)
        log.append(f"GET {short(url)} -> {r.status}{' ' + short(r.location) if r.location else ''}")
        if r.status in (301, 302, 303, 307, 308) and r.location:
            url = r.location
            continue
        if r.status == 200 and b"<form" in r.body:
            parser = Forms()
            parser.feed(r.body.decode("utf-8", "replace"))
            form = next((f for f in parser.forms if {"login", "password"} <= set(f["inputs"])), None)
            if form is None:
                raise PlayError(f"a page with a form but no login/password inputs: {r!r}")
            action = urllib.parse.urljoin(url, form["action"])
            fields = dict(form["inputs"], login=user, password=password)
            p = browser.post(action, form=fields)
            log.append(f"POST {short(action)} login={user}&password=… -> {p.status}"
                       f"{' ' + short(p.location) if p.location else ''}")
            if p.status not in (302, 303) or not p.location:
                raise PlayError(f"the login form was refused: {p!r}")
            url = p.location
            continue
        raise PlayError(f"the browser got stuck: {r!r}")
    raise PlayError("too many redirects")


def short(url: str | None) -> str:
    if url is None:
        return ""
    s = urllib.parse.urlsplit(url)
    q = f"?{s.query[:60]}…" if len(s.query) > 60 else (f"?{s.query}" if s.query else "")
    return f"{s.scheme}://{s.netloc}{s.path}{q}"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_device_id() -> str:
    # As matrix-sdk's DeviceId::new(): 10 upper-case letters.
    return "".join(random.choice(string.ascii_uppercase) for _ in range(10))


# ------------------------------------------------------------------------------------------ oauth

def check_metadata(meta: dict) -> None:
    """What ruma's AuthorizationServerMetadata demands, or matrix-sdk refuses the server."""
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint",
                "registration_endpoint"):
        if not meta.get(key):
            raise PlayError(f"auth metadata lacks {key}")
    if "code" not in meta.get("response_types_supported", []):
        raise PlayError("response_types_supported lacks code")
    if not {"query", "fragment"} & set(meta.get("response_modes_supported", [])):
        raise PlayError("response_modes_supported lacks query/fragment")
    if not {"authorization_code", "refresh_token"} <= set(meta.get("grant_types_supported", [])):
        raise PlayError("grant_types_supported lacks authorization_code/refresh_token")
    if "S256" not in meta.get("code_challenge_methods_supported", []):
        raise PlayError("code_challenge_methods_supported lacks S256")


def check_https(meta: dict) -> None:
    """Over TLS: every URL matrix-sdk checks (ruma's validate_urls) or calls is https."""
    keys = ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint",
            "registration_endpoint", "introspection_endpoint", "userinfo_endpoint", "jwks_uri")
    plain = {k: meta.get(k) for k in keys if not str(meta.get(k, "")).startswith("https://")}
    if plain:
        raise PlayError(f"not https: {plain}")


def whoami(app: Http, hs: str, token: str) -> Response:
    return app.get(f"{hs}/_matrix/client/v3/account/whoami", token=token)


def oauth_sign_in(app: Http, browser: Http, meta: dict, client_id: str, user: str, password: str,
                  stable_scopes: bool) -> dict:
    device = new_device_id()
    scope = (f"{API_STABLE} {DEVICE_STABLE}{device}" if stable_scopes
             else f"{API_UNSTABLE} {DEVICE_UNSTABLE}{device}")
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(16)
    redirect_port = free_port()  # nothing listens: the browser stops at the redirect
    redirect_uri = f"http://127.0.0.1:{redirect_port}/callback"
    auth_url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
    })
    log: list[str] = []
    final = browse_until(browser, auth_url, f"http://127.0.0.1:{redirect_port}/", user, password, log)
    for line in log:
        step(f"  browser: {line}")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(final).query)
    if "error" in q:
        raise PlayError(f"authorization refused: {q}")
    if q.get("state") != [state]:
        raise PlayError(f"state mismatch: {q}")
    if q.get("iss") != [meta["issuer"]]:
        raise PlayError(f"iss {q.get('iss')} is not the issuer {meta['issuer']}")
    step(f"  redirect {short(final)}; browser cookies: {', '.join(browser.cookie_names())}")
    t = app.post(meta["token_endpoint"], form={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect_uri,
        "client_id": client_id, "code_verifier": verifier,
    })
    tokens = expect(t, 200, "code exchange").json()
    for key in ("access_token", "refresh_token", "expires_in"):
        if key not in tokens:
            raise PlayError(f"token response lacks {key}: {tokens}")
    step(f"  token: expires_in {tokens['expires_in']}, scope {tokens.get('scope')!r}, refresh token: yes")
    tokens["device_id"] = device
    return tokens


def play_oauth(hs: str, user: str, password: str, ca: str | None = None, tls: bool = False) -> None:
    app = Http(cookies=False, ca=ca)
    versions = expect(app.get(f"{hs}/_matrix/client/versions"), 200, "versions").json()["versions"]
    sdk_path = ("/_matrix/client/v1/auth_metadata" if "v1.15" in versions
                else "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata")
    step(f"versions up to {versions[-1]}: matrix-sdk 0.18 asks {sdk_path}")
    metas = {}
    for path in ("/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"):
        r = app.get(hs + path)
        step(f"GET {path} -> {r.status}")
        if r.status == 200:
            metas[path] = r.json()
    if sdk_path not in metas:
        raise PlayError(f"{sdk_path} is not served")
    meta = metas[sdk_path]
    check_metadata(meta)
    issuer = meta["issuer"]
    step(f"issuer {issuer}")
    if tls:
        check_https(meta)
        step("every endpoint of the metadata is https (ruma's validate_urls, the oauth2 crate)")
    r = app.get(f"{hs}/_matrix/client/v3/login")
    step(f"GET /_matrix/client/v3/login -> {r.status} (no password login under MSC3861)")

    reg = app.post(meta["registration_endpoint"], json_body={
        "application_type": "native",
        "client_name": "Vestibule (test)",
        "client_name#fr": "Vestibule (essai)",
        "client_uri": "https://vestibule.test.invalid/",
        "logo_uri": "https://vestibule.test.invalid/logo.png",
        "policy_uri": "https://vestibule.test.invalid/privacy",
        "tos_uri": "https://vestibule.test.invalid/terms",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    client = expect(reg, 201, "dynamic client registration").json()
    client_id = client["client_id"]
    step(f"registered native client {client_id}")

    browser = Http(cookies=True, ca=ca)
    step("sign-in 1 (scopes as matrix-sdk 0.18 sends them: unstable MSC2967)")
    tokens = oauth_sign_in(app, browser, meta, client_id, user, password, stable_scopes=False)
    device = tokens["device_id"]
    w = expect(whoami(app, hs, tokens["access_token"]), 200, "whoami").json()
    if w.get("device_id") != device or not w.get("user_id", "").startswith(f"@{user}:"):
        raise PlayError(f"whoami {w}, expected @{user}:… with device {device}")
    step(f"whoami -> {w['user_id']} device {w['device_id']}")

    step("sign-in 2 (stable scopes; same browser: the provider session skips the form)")
    tokens2 = oauth_sign_in(app, browser, meta, client_id, user, password, stable_scopes=True)
    w2 = expect(whoami(app, hs, tokens2["access_token"]), 200, "whoami (stable scopes)").json()
    if w2.get("device_id") != tokens2["device_id"]:
        raise PlayError(f"whoami {w2}, expected device {tokens2['device_id']}")
    step(f"whoami -> {w2['user_id']} device {w2['device_id']}")

    ttl = int(tokens["expires_in"])
    if ttl <= 10:
        time.sleep(ttl + 1)
        r = whoami(app, hs, tokens["access_token"])
        if r.status != 401:
            raise PlayError(f"whoami with an expired access token: expected 401, got {r!r}")
        step(f"after {ttl + 1} s the access token is expired: whoami -> 401 {r.json().get('errcode')}")
    else:
        step(f"access tokens live {ttl} s: expiry not waited for (OIDC_ACCESS_TOKEN_TTL=4 shows it)")

    t = app.post(meta["token_endpoint"], form={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id,
    })
    refreshed = expect(t, 200, "refresh").json()
    if refreshed.get("refresh_token") in (None, tokens["refresh_token"]):
        step("refresh: the refresh token did not rotate")
    w = expect(whoami(app, hs, refreshed["access_token"]), 200, "whoami after refresh").json()
    if w.get("device_id") != device:
        raise PlayError(f"whoami after refresh: {w}")
    step(f"refreshed; whoami -> {w['user_id']} device {w['device_id']}")

    # Logout as matrix-sdk does it: revoke the access token (the grant, refresh token included, ends).
    r = app.post(meta["revocation_endpoint"], form={
        "token": refreshed["access_token"], "token_type_hint": "access_token", "client_id": client_id,
    })
    expect(r, 200, "revocation")
    step(f"revoked the access token at {meta['revocation_endpoint']}")
    revoked = expect(app.get(f"{issuer}/test/revoked"), 200, "GET /test/revoked").json()["revoked"]
    mine = [e for e in revoked if e.get("device_id") == device]
    if not mine:
        raise PlayError(f"/test/revoked does not list device {device}: {revoked}")
    step(f"GET {issuer}/test/revoked -> grant {mine[-1]['grant_id']} of {mine[-1]['username']} device "
         f"{device}, device deleted in Synapse: {mine[-1]['device_deleted']}")
    basic = base64.b64encode(":".join(INTROSPECTION_CLIENT).encode()).decode()
    i = app.post(meta["introspection_endpoint"], form={"token": refreshed["access_token"]},
                 headers={"Authorization": f"Basic {basic}"})
    if expect(i, 200, "introspection").json().get("active") is not False:
        raise PlayError(f"introspection after revocation: {i!r}")
    step("provider introspection -> active: false")
    r = app.post(meta["token_endpoint"], form={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": client_id,
    })
    if r.status != 400 or r.json().get("error") != "invalid_grant":
        raise PlayError(f"refresh after revocation: {r!r}")
    step("refresh after revocation -> 400 invalid_grant")
    devices = app.get(f"{hs}/_synapse/admin/v2/users/{urllib.parse.quote(w['user_id'])}/devices",
                      token=ADMIN_TOKEN)
    ids = [d["device_id"] for d in expect(devices, 200, "admin device list").json()["devices"]]
    if device in ids:
        raise PlayError(f"device {device} still in Synapse: {ids}")
    step(f"Synapse devices of {w['user_id']}: {ids} ({device} gone)")
    started = time.monotonic()
    while True:
        r = whoami(app, hs, refreshed["access_token"])
        if r.status == 401:
            break
        if r.status != 200 or time.monotonic() - started > 130:
            raise PlayError(f"whoami after revocation: {r!r}")
        time.sleep(0.25)
    step(f"whoami with the revoked token -> 401 {r.json().get('errcode')} after "
         f"{time.monotonic() - started:.1f} s (Synapse's cached introspection answer ran out)")

    # The second session (stable scopes) is still signed in (its access token may have expired).
    t = app.post(meta["token_endpoint"], form={
        "grant_type": "refresh_token", "refresh_token": tokens2["refresh_token"], "client_id": client_id,
    })
    other = expect(t, 200, "refresh of the other session").json()
    w2 = expect(whoami(app, hs, other["access_token"]), 200, "whoami of the other session").json()
    if w2.get("device_id") != tokens2["device_id"]:
        raise PlayError(f"whoami of the other session: {w2}")
    step(f"the other session (device {w2['device_id']}) is unaffected")


# -------------------------------------------------------------------------------------------- sso

def play_sso(hs: str, user: str, password: str, idp: str, ca: str | None = None,
             tls: bool = False) -> None:
    app = Http(cookies=False, ca=ca)
    flows = expect(app.get(f"{hs}/_matrix/client/v3/login"), 200, "GET /login").json()["flows"]
    sso = next((f for f in flows if f.get("type") == "m.login.sso"), None)
    if not sso:
        raise PlayError(f"/login has no m.login.sso: {flows}")
    idps = [p["id"] for p in sso.get("identity_providers", [])]
    if idp not in idps:
        raise PlayError(f"/login lists {idps}, not {idp}")
    step(f"GET /login -> {[f['type'] for f in flows]}, identity providers {idps}")

    browser = Http(cookies=True, ca=ca)
    redirect_port = free_port()
    redirect_url = f"http://127.0.0.1:{redirect_port}/"
    start = (f"{hs}/_matrix/client/v3/login/sso/redirect/{urllib.parse.quote(idp)}?"
             + urllib.parse.urlencode({"redirectUrl": redirect_url}))
    log: list[str] = []
    final = browse_until(browser, start, redirect_url, user, password, log)
    for line in log:
        step(f"  browser: {line}")
    if tls and not any(line.startswith("GET https://") for line in log):
        raise PlayError("the browser never went to an https provider")
    step(f"  browser cookies: {', '.join(browser.cookie_names())}")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(final).query)
    if "loginToken" not in q:
        raise PlayError(f"no loginToken in {final}")
    step(f"redirect {short(final)}")
    r = app.post(f"{hs}/_matrix/client/v3/login", json_body={
        "type": "m.login.token", "token": q["loginToken"][0], "initial_device_display_name": "play.py"})
    login = expect(r, 200, "m.login.token").json()
    w = expect(whoami(app, hs, login["access_token"]), 200, "whoami").json()
    if not w.get("user_id", "").startswith(f"@{user}:") or w.get("device_id") != login["device_id"]:
        raise PlayError(f"whoami {w} after login {login}")
    step(f"m.login.token -> whoami {w['user_id']} device {w['device_id']}")


# -------------------------------------------------------------------------------------------- e2e

def run(cmd: list[str], env: dict) -> str:
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if p.returncode != 0:
        raise PlayError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}\n{p.stdout}")
    return p.stdout.strip()


def e2e(args) -> None:
    tmp = tempfile.mkdtemp(prefix="vestibule-oidc-play-")
    started: list[tuple[str, str]] = []
    timings = {}
    t_all = time.monotonic()
    try:
        for script in (OIDC_SH,):
            t0 = time.monotonic()
            run([script, "install"], dict(os.environ))
            timings["oidc.sh install"] = time.monotonic() - t0
        for auth in ("oauth", "sso"):
            t0 = time.monotonic()
            run([SYNAPSE_SH, "install"], dict(os.environ, SYNAPSE_AUTH=auth))
            timings[f"synapse.sh install ({auth})"] = time.monotonic() - t0

        for auth in ("oauth", "sso"):
            hs_port = free_port()
            hs_url = f"http://127.0.0.1:{hs_port}"
            env = dict(os.environ, OIDC_SYNAPSE_URL=hs_url)
            if auth == "oauth":
                env.setdefault("OIDC_ACCESS_TOKEN_TTL", "4")
            pdir, sdir = os.path.join(tmp, f"{auth}-provider"), os.path.join(tmp, f"{auth}-synapse")
            tls = " tls" if args.tls else ""
            t0 = time.monotonic()
            issuer = run([OIDC_SH, "start", pdir] + (["--tls"] if args.tls else []), env)
            started.append((OIDC_SH, pdir))
            timings[f"provider start ({auth}{tls})"] = time.monotonic() - t0
            step(f"[{auth}] provider {issuer} ({pdir})")
            ca = None
            synapse_env = dict(env, SYNAPSE_AUTH=auth, SYNAPSE_PORT=str(hs_port), OIDC_ISSUER=issuer)
            if args.tls:
                if not issuer.startswith("https://"):
                    raise PlayError(f"oidc.sh start --tls printed {issuer}")
                ca = run([OIDC_SH, "ca", pdir], env)
                synapse_env["OIDC_CA_FILE"] = ca
                step(f"[{auth}] the provider's CA: {ca}")
            t0 = time.monotonic()
            url = run([SYNAPSE_SH, "start", sdir], synapse_env)
            started.append((SYNAPSE_SH, sdir))
            timings[f"synapse start ({auth}{tls})"] = time.monotonic() - t0
            if url != hs_url:
                raise PlayError(f"Synapse answers at {url}, expected {hs_url}")
            step(f"[{auth}] Synapse {url} ({sdir})")
            t0 = time.monotonic()
            if auth == "oauth":
                play_oauth(url, args.user, args.password, ca=ca, tls=args.tls)
            else:
                play_sso(url, args.user, args.password, f"oidc-{args.idp}", ca=ca, tls=args.tls)
            timings[f"play {auth}{tls}"] = time.monotonic() - t0
            step(f"[{auth}] OK")
    finally:
        for script, d in reversed(started):
            subprocess.run([script, "stop", d], stdin=subprocess.DEVNULL)
        if args.keep:
            step(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    timings["total"] = time.monotonic() - t_all
    for k, v in timings.items():
        step(f"time: {k}: {v:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", nargs="?", choices=["e2e", "oauth", "sso"], default="e2e")
    ap.add_argument("homeserver", nargs="?")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="alice-password")
    ap.add_argument("--idp", default="vestibule", help="the idp_id (Synapse lists oidc-IDP)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir of e2e (logs)")
    ap.add_argument("--tls", action="store_true",
                    help="e2e: providers over HTTPS (oidc.sh start --tls); oauth/sso: demand an https issuer")
    ap.add_argument("--ca", help="trust this CA file for https (oauth/sso modes; e2e --tls finds it)")
    args = ap.parse_args()
    try:
        if args.mode == "e2e":
            e2e(args)
        elif not args.homeserver:
            ap.error(f"{args.mode} needs HS_URL")
        elif args.mode == "oauth":
            play_oauth(args.homeserver.rstrip("/"), args.user, args.password, ca=args.ca, tls=args.tls)
        else:
            play_sso(args.homeserver.rstrip("/"), args.user, args.password, f"oidc-{args.idp}",
                     ca=args.ca, tls=args.tls)
    except PlayError as e:
        print(f"play: FAILED: {e}", file=sys.stderr)
        return 1
    step("all OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
