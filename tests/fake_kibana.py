"""A stand-in for Kibana's saved-objects API on 127.0.0.1, answering as Kibana 9 documents it.

It enforces what real Kibana enforces on these two endpoints — the ``kbn-xsrf`` header, the
credentials, the ``/s/<space>`` prefix, a multipart field named ``file`` whose name ends in
``.ndjson``, conflicts unless ``overwrite=true``, references that must resolve in the file or the
space — and records every request so tests can check what the client sent.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SUPPORTED_TYPES = {"index-pattern", "search", "lens", "dashboard", "visualization", "tag", "config"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)  # name -> (filename, content)


@dataclass
class FakeKibana:
    url: str = ""
    authorization: str | None = None  # the exact Authorization header to accept; None: no security
    spaces: set[str] = field(default_factory=lambda: {"default"})
    fail_objects: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, id) -> error type
    delay_s: float = 0.0
    server_errors: list[str] = field(default_factory=list)  # exceptions in request handling
    requests: list[Request] = field(default_factory=list)
    store: dict[str, dict[tuple[str, str], dict]] = field(default_factory=dict)  # space -> objects
    lock: threading.Lock = field(default_factory=threading.Lock)

    def objects(self, space: str = "default") -> dict[tuple[str, str], dict]:
        return self.store.setdefault(space, {})

    # --- Kibana's behaviour ---------------------------------------------------------------------
    def handle(self, request: Request) -> tuple[int, str, bytes]:
        path = request.path
        space = "default"
        if path.startswith("/s/"):
            space, _, rest = path[3:].partition("/")
            path = "/" + rest
            if space not in self.spaces:
                return _error(404, "Not Found", "Not Found")
        if request.headers.get("kbn-xsrf") is None:
            return _error(400, "Bad Request", "Request must contain a kbn-xsrf header.")
        if self.authorization is not None and request.headers.get("authorization") != self.authorization:
            return _error(401, "Unauthorized", "[security_exception]: unable to authenticate user for REST request")
        if request.method == "POST" and path == "/api/saved_objects/_import":
            return self.import_(request, space)
        if request.method == "POST" and path == "/api/saved_objects/_export":
            return self.export(request, space)
        return _error(404, "Not Found", "Not Found")

    def import_(self, request: Request, space: str) -> tuple[int, str, bytes]:
        if "file" not in request.form:
            return _error(400, "Bad Request", "[request body.file]: expected value of type [Stream] but got [undefined]")
        filename, content = request.form["file"]
        if not (filename or "").endswith(".ndjson"):
            return _error(400, "Bad Request", f"Invalid file extension {filename}")
        overwrite = request.query.get("overwrite") == ["true"]
        incoming = [json.loads(line) for line in content.decode("utf-8").splitlines() if line.strip()]
        known = {(o["type"], o["id"]) for o in incoming} | set(self.objects(space))
        errors, successes = [], []
        for obj in incoming:
            key = (obj["type"], obj["id"])
            meta = {"title": obj.get("attributes", {}).get("title")}
            missing = [{"type": r["type"], "id": r["id"]} for r in obj.get("references", [])
                       if (r["type"], r["id"]) not in known]
            if obj["type"] not in SUPPORTED_TYPES:
                error = {"type": "unsupported_type"}
            elif missing:
                error = {"type": "missing_references", "references": missing}
            elif key in self.fail_objects:
                error = {"type": self.fail_objects[key], "message": "injected failure"}
            elif key in self.objects(space) and not overwrite:
                error = {"type": "conflict"}
            else:
                error = None
            if error:
                errors.append({"id": obj["id"], "type": obj["type"], "meta": meta, "error": error})
                continue
            stored = {**obj, "updated_at": "2026-01-01T00:00:00.000Z", "version": "WzEsMV0=", "managed": False}
            self.objects(space)[key] = stored
            successes.append({"type": obj["type"], "id": obj["id"], "meta": meta, **({"overwrite": True} if overwrite else {})})
        body = {"success": not errors, "successCount": len(successes), "successResults": successes}
        if errors:
            body["errors"] = errors
        return 200, "application/json", json.dumps(body).encode()

    def export(self, request: Request, space: str) -> tuple[int, str, bytes]:
        wanted = json.loads(request.body or b"{}")
        types = wanted.get("type")
        types = [types] if isinstance(types, str) else types
        if not types and not wanted.get("objects"):
            return _error(400, "Bad Request", "Either `type` or `objects` are required.")
        objects = self.objects(space)
        chosen = {k for k in objects if k[0] in (types or [])}
        chosen |= {(o["type"], o["id"]) for o in wanted.get("objects", []) if (o["type"], o["id"]) in objects}
        missing = []
        if wanted.get("includeReferencesDeep"):
            queue = list(chosen)
            while queue:
                for ref in objects[queue.pop()].get("references", []):
                    key = (ref["type"], ref["id"])
                    if key in objects and key not in chosen:
                        chosen.add(key)
                        queue.append(key)
                    elif key not in objects:
                        missing.append({"type": ref["type"], "id": ref["id"]})
        # Newest first, as Kibana tends to answer: the client must not rely on any order.
        lines = [json.dumps(objects[k]) for k in sorted(chosen, reverse=True)]
        if not wanted.get("excludeExportDetails"):
            lines.append(json.dumps({"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": len(chosen),
                                     "missingRefCount": len(missing), "missingReferences": missing}))
        return 200, "application/ndjson", ("\n".join(lines) + "\n").encode()


def _error(status: int, error: str, message: str) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps({"statusCode": status, "error": error, "message": message}).encode()


def _parse_form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        form[name] = (part.get_filename(), part.get_payload(decode=True))
    return form


@contextmanager
def fake_kibana(**options):
    kibana = FakeKibana(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self._serve()

        def do_GET(self):  # noqa: N802
            self._serve()

        def _serve(self):
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, split.path, parse_qs(split.query), headers, body,
                              _parse_form(headers.get("content-type", ""), body))
            if kibana.delay_s:
                time.sleep(kibana.delay_s)
            with kibana.lock:
                kibana.requests.append(request)
                status, content_type, payload = kibana.handle(request)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # socketserver prints tracebacks to sys.stderr, which CliRunner captures as the
            # command's own stderr; a client hanging up is not the command's output.
            kibana.server_errors.append(repr(sys.exc_info()[1]))

    server = Server(("127.0.0.1", 0), Handler)
    kibana.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield kibana
    finally:
        server.shutdown()
        server.server_close()
