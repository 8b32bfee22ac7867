"""The HTTP side of Kibana's API: base URL, space, credentials and TLS from ``kibana:``, refusals as one line."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from pipeline.config import Settings
from pipeline.kibana.errors import KibanaError


class KibanaApi:
    """One Kibana, one space, one identity. Messages never contain credentials."""

    def __init__(self, settings: Settings, url: str | None):
        k = settings.kibana
        try:
            base = httpx.URL((url or k.url).rstrip("/"))
        except httpx.InvalidURL as exc:
            raise KibanaError(f"Kibana URL: {exc}") from None
        if base.userinfo:
            raise KibanaError("put Kibana credentials in kibana.username/password or kibana.api_key, not in the URL")
        if base.scheme not in ("http", "https") or not base.host:
            raise KibanaError(f"Kibana URL {base} must be http(s)://host[:port]")
        self.base = str(base)
        self.space_path = f"/s/{k.space}" if k.space and k.space != "default" else ""
        self.where = f"{self.base} (space {k.space or 'default'})"
        self.timeout = k.timeout_s
        self.headers = {"kbn-xsrf": "true"}  # Kibana's CSRF guard for API calls
        self.auth = None
        if k.api_key is not None and k.api_key.get_secret_value():
            self.headers["Authorization"] = f"ApiKey {k.api_key.get_secret_value()}"
        elif k.username:
            if k.password is None:
                raise KibanaError("kibana.username is set but kibana.password is not")
            self.auth = httpx.BasicAuth(k.username, k.password.get_secret_value())
        self.verify: ssl.SSLContext | bool = k.verify_certs
        if k.verify_certs and k.ca_certs:
            try:
                self.verify = ssl.create_default_context(cafile=str(Path(k.ca_certs).expanduser()))
            except (OSError, ssl.SSLError) as exc:
                raise KibanaError(f"kibana.ca_certs {k.ca_certs}: {exc}") from None

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        full = f"{self.space_path}{path}"
        try:
            with httpx.Client(base_url=self.base, headers=self.headers, auth=self.auth, verify=self.verify,
                              timeout=self.timeout) as client:
                response = client.post(full, **kwargs)
        except httpx.TimeoutException:
            raise KibanaError(f"Kibana at {self.where} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise KibanaError(f"cannot reach Kibana at {self.where}: {str(exc) or type(exc).__name__}") from None
        if response.status_code >= 400:
            raise KibanaError(self._refusal(full, response))
        return response

    def post_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.post(path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise KibanaError(f"{self.base}{self.space_path}{path} answered {response.status_code} without a JSON "
                              "object: is this Kibana?")
        return data

    def _refusal(self, path: str, response: httpx.Response) -> str:
        try:
            message = response.json().get("message") or response.reason_phrase
        except (ValueError, AttributeError):
            message = response.reason_phrase
        status = response.status_code
        if status == 401:
            return f"Kibana at {self.where} rejected the credentials (401: {message})"
        if status == 403:
            return f"Kibana at {self.where}: this user may not manage saved objects (403: {message})"
        if status == 404:
            return f"{self.base}{path} not found (404): is this Kibana, and does the space exist?"
        return f"Kibana at {self.where} answered {status} to {path}: {message}"
