"""A loopback stand-in for the Cloud Storage JSON API that serves the published buckets.

`GcsServer(objects)` listens on 127.0.0.1 (a free port) and answers the two requests
`simclr_tf.official.download` makes: the listing (`/storage/v1/b/BUCKET/o?prefix=...`, two items
per page so the paging is exercised, with each object's size and base64 MD5) and the media
(`/download/storage/v1/b/BUCKET/o/NAME?alt=media`, honouring `Range: bytes=N-` with a 206).
Faults on request: `truncate[name] = n` sends only the first n bytes of the next transfer of
`name` (with the full Content-Length, as a dropped connection looks), `bad_md5` lists names
whose listed MD5 is wrong, `down` answers everything with 503. `requests` logs (path, Range).

The serving thread handles one request at a time and stops by itself: at `stop()` (the context
manager's exit) or after `lifetime` seconds, whichever comes first.
"""

import base64
import hashlib
import http.server
import json
import os
import threading
import time
import urllib.parse

PAGE_SIZE = 2


def objects_from_folder(folder, bucket, prefix):
    """{(bucket, prefix + relative path): bytes} for every file under `folder`."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                out[(bucket, prefix + relative)] = f.read()
    return out


class GcsServer:
    def __init__(self, objects, lifetime=600):
        self.objects = dict(objects)
        self.truncate, self.bad_md5, self.down, self.requests = {}, set(), False, []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if server.down:
                    return self.send_error(503, "down")
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.split("/")
                query = urllib.parse.parse_qs(url.query)
                if url.path.startswith("/storage/v1/b/") and len(parts) == 6 and parts[5] == "o":
                    return self._list(parts[4], query)
                if url.path.startswith("/download/storage/v1/b/") and len(parts) == 8:
                    return self._media(parts[5], urllib.parse.unquote(parts[7]))
                self.send_error(404, "unknown request")

            def _list(self, bucket, query):
                prefix = query.get("prefix", [""])[0]
                names = sorted(n for b, n in server.objects if b == bucket and n.startswith(prefix))
                start = int(query.get("pageToken", ["0"])[0])
                page = {"kind": "storage#objects", "items": [
                    server.item(bucket, n) for n in names[start:start + PAGE_SIZE]
                ]}
                if start + PAGE_SIZE < len(names):
                    page["nextPageToken"] = str(start + PAGE_SIZE)
                self._send(200, json.dumps(page).encode(), "application/json")

            def _media(self, bucket, name):
                data = server.objects.get((bucket, name))
                if data is None:
                    return self.send_error(404, "No such object")
                start, status = 0, 200
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                    start, status = int(ranged[6:-1]), 206
                body = data[start:]
                cut = server.truncate.pop(name, None)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.close_connection = True

            def _send(self, status, body, kind):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 0.2
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def item(self, bucket, name):
        data = self.objects[(bucket, name)]
        md5 = hashlib.md5(data if name not in self.bad_md5 else data + b"x").digest()
        return {"name": name, "size": str(len(data)), "md5Hash": base64.b64encode(md5).decode()}

    def _serve(self):
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            self.httpd.handle_request()
        self.httpd.server_close()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def media_requests(self, name):
        """The Range headers of the media requests for `name` (None: from the start)."""
        quoted = urllib.parse.quote(name, safe="")
        return [r for p, r in self.requests if p.startswith("/download/") and quoted in p]


def serve_release_for_examples(folder, name="simclrv2/finetuned_100pct/r50_1x_sk0"):
    """A started `GcsServer` holding the recorded R18 SavedModel layout (its variables; the
    `saved_model.pb` is a placeholder, so the published projection layer applies) under the
    TF2 bucket's files for `name`: what the docs' by-name example loads in the tests."""
    from simclr_tf.official import releases
    from tests.helpers import official as helpers

    layout = helpers.record("r18_1x_sk0")["layouts"]["saved_model"]
    path = helpers.write_checkpoint(layout, folder, "saved_model")
    release = releases.get(name)
    return GcsServer(objects_from_folder(path, release.bucket, release.prefix))
