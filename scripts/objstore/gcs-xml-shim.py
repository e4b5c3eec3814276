"""GCS XML-API writes for fake-gcs-server, for scripts/objstore-harness.

usage: python gcs-xml-shim.py FAKE_GCS_SERVER_BINARY --port PORT --data DIR

Why this exists: object_store's GCS backend (what slimbox uses) writes
through GCS's XML API: `PUT /bucket/key` (create-only with
`x-goog-if-generation-match: 0`) and XML multipart uploads (`POST ?uploads`,
`PUT ?partNumber&uploadId`, `POST ?uploadId`, `DELETE ?uploadId`). No GCS
emulator on PyPI or npm implements those: fake-gcs-server (1.54 here, and
its newest source too) takes a plain PUT for a JSON upload without
`uploadType` and refuses it; gcp-storage-emulator and the others have no
XML listing, HEAD or preconditions. fake-gcs-server answers everything else
object_store sends (XML GET, HEAD, DELETE, `GET /bucket?list-type=2`).

So this starts fake-gcs-server on a private port and stands in front of it
on PORT, and only translates those write requests into fake-gcs-server's
own JSON API; every other request goes through unchanged. The emulator
stays the store: it keeps every object (on disk, in DIR), and it is the
emulator that refuses a create-only put (a JSON upload with
`ifGenerationMatch=0` answers 412, which object_store reports as
AlreadyExists). Multipart parts are objects of their own under
PARTS_PREFIX in the same bucket, joined by the emulator's compose when the
upload completes (so an upload is invisible under its key until then, as
on GCS), and deleted afterwards or on abort. The shim keeps no state: an
upload survives the server being stopped and started again.

Not translated (slimbox does not use them): copy (`x-goog-copy-source`),
user metadata and attributes other than Content-Type.
"""
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

PARTS_PREFIX = "_xmlapi-multipart"
MAX_COMPOSE = 32  # GCS's (and fake-gcs-server's) limit of sources per compose
UPSTREAM = None  # (host, port) of fake-gcs-server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream(method, path, body=b"", headers=None):
    """One request to fake-gcs-server; returns (status, headers, body)."""
    c = http.client.HTTPConnection(*UPSTREAM, timeout=120)
    try:
        c.request(method, path, body, headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def q(name):
    return urllib.parse.quote(name, safe="")


def json_upload(bucket, name, data, content_type, generation_match=None):
    """A JSON-API multipart upload (metadata + media): the one upload kind
    fake-gcs-server 1.54 checks `ifGenerationMatch` on."""
    boundary = "gcs-xml-shim-" + uuid.uuid4().hex
    meta = json.dumps({"name": name, "contentType": content_type}).encode()
    body = b"".join([
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
        meta,
        f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
        data,
        f"\r\n--{boundary}--\r\n".encode(),
    ])
    path = f"/upload/storage/v1/b/{q(bucket)}/o?uploadType=multipart"
    if generation_match is not None:
        path += "&ifGenerationMatch=" + q(generation_match)
    return upstream("POST", path, body,
                    {"Content-Type": f"multipart/related; boundary={boundary}"})


def object_headers(resource):
    """The headers GCS's XML API answers a write with, from a JSON object."""
    return [("ETag", '"%s"' % resource.get("etag", "")),
            ("x-goog-generation", str(resource.get("generation", "")))]


def list_names(bucket, prefix):
    status, _, body = upstream(
        "GET", f"/storage/v1/b/{q(bucket)}/o?prefix={q(prefix)}")
    if status != 200:
        return []
    return [o["name"] for o in json.loads(body).get("items", [])]


def delete_parts(bucket, upload_id):
    for name in list_names(bucket, f"{PARTS_PREFIX}/{upload_id}/"):
        upstream("DELETE", f"/storage/v1/b/{q(bucket)}/o/{q(name)}")


def compose(bucket, name, upload_id, sources, content_type):
    """Composes `sources` into `name`, in rounds of at most MAX_COMPOSE
    (intermediate objects sit beside the parts)."""
    round_no = 0
    while True:
        groups = [sources[i:i + MAX_COMPOSE] for i in range(0, len(sources), MAX_COMPOSE)]
        last = len(groups) == 1
        sources = []
        for i, group in enumerate(groups):
            target = name if last else f"{PARTS_PREFIX}/{upload_id}/r{round_no}-{i:05d}"
            req = {"sourceObjects": [{"name": s} for s in group],
                   "destination": {"contentType": content_type}}
            status, headers, body = upstream(
                "POST", f"/storage/v1/b/{q(bucket)}/o/{q(target)}/compose",
                json.dumps(req).encode(), {"Content-Type": "application/json"})
            if status != 200 or last:
                return status, headers, body
            sources.append(target)
        round_no += 1


class Shim(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # into server.log, like the emulator's
        sys.stderr.write("gcs-xml-shim: " + (fmt % args) + "\n")

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        length = str(len(body))
        for k, v in headers:
            if k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer tells the object's size
            elif k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def target(self):
        """(bucket, object name, query) of an XML-API object request."""
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        name = urllib.parse.unquote(parts[1]) if len(parts) == 2 else ""
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        return urllib.parse.unquote(parts[0]), name, query

    def passthrough(self, data):
        status, headers, body = upstream(self.command, self.path, data, dict(self.headers))
        self.reply(status, headers, body)

    def do_GET(self):
        self.passthrough(b"")

    def do_HEAD(self):
        self.passthrough(b"")

    def do_DELETE(self):
        bucket, name, query = self.target()
        if name and "uploadId" in query:  # abort a multipart upload
            self.body()
            delete_parts(bucket, query["uploadId"][0])
            return self.reply(204)
        self.passthrough(self.body())

    def do_PUT(self):
        bucket, name, query = self.target()
        data = self.body()
        ctype = self.headers.get("Content-Type", "application/octet-stream")
        if not name or self.path.startswith(("/upload/", "/storage/", "/_internal/")):
            return self.passthrough(data)
        if "x-goog-copy-source" in self.headers:
            return self.reply(501, [("Content-Type", "text/plain")],
                              b"gcs-xml-shim: copy is not translated")
        if "uploadId" in query:  # one part of a multipart upload
            part = int(query["partNumber"][0])
            part_name = f"{PARTS_PREFIX}/{query['uploadId'][0]}/{part:05d}"
            status, headers, body = json_upload(bucket, part_name, data, ctype)
        else:  # a plain XML PUT, create-only when asked
            status, headers, body = json_upload(
                bucket, name, data, ctype, self.headers.get("x-goog-if-generation-match"))
        if status != 200:
            return self.reply(status, headers, body)
        self.reply(200, object_headers(json.loads(body)))

    def do_POST(self):
        bucket, name, query = self.target()
        data = self.body()
        if not name or self.path.startswith(("/upload/", "/storage/", "/batch/", "/_internal/")):
            return self.passthrough(data)
        if "uploads" in query:  # initiate: the id names the parts' folder
            upload_id = uuid.uuid4().hex
            xml = ("<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult>"
                   f"<Bucket>{bucket}</Bucket><Key>{name}</Key>"
                   f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>")
            return self.reply(200, [("Content-Type", "application/xml")], xml.encode())
        if "uploadId" in query:
            return self.complete(bucket, name, query["uploadId"][0], data)
        self.passthrough(data)

    def complete(self, bucket, name, upload_id, data):
        """Checks every listed part is stored with the ETag given, composes
        them into the object and deletes the parts."""
        sources = []
        for part in ET.fromstring(data).iter("Part"):
            number = int(part.findtext("PartNumber"))
            etag = part.findtext("ETag", "").strip('"')
            part_name = f"{PARTS_PREFIX}/{upload_id}/{number:05d}"
            status, _, body = upstream("GET", f"/storage/v1/b/{q(bucket)}/o/{q(part_name)}")
            if status != 200 or json.loads(body).get("etag") != etag:
                return self.reply(400, [("Content-Type", "text/plain")],
                                  f"InvalidPart: part {number} of {upload_id}".encode())
            sources.append(part_name)
        if not sources:
            return self.reply(400, [("Content-Type", "text/plain")], b"no parts")
        status, headers, body = compose(bucket, name, upload_id, sources,
                                        "application/octet-stream")
        if status != 200:
            return self.reply(status, headers, body)
        delete_parts(bucket, upload_id)
        resource = json.loads(body)
        xml = ("<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>"
               f"<Bucket>{bucket}</Bucket><Key>{name}</Key>"
               f"<ETag>\"{resource.get('etag', '')}\"</ETag></CompleteMultipartUploadResult>")
        self.reply(200, object_headers(resource) + [("Content-Type", "application/xml")],
                   xml.encode())


def main():
    global UPSTREAM
    args = sys.argv[1:]
    binary = args[0]
    port = int(args[args.index("--port") + 1])
    data = args[args.index("--data") + 1]
    inner = free_port()
    UPSTREAM = ("127.0.0.1", inner)
    # public-host names the shim's address: clients send that Host, and the
    # emulator routes its XML-API paths (/bucket/key) only for it.
    child = subprocess.Popen([
        binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(inner),
        "-public-host", f"127.0.0.1:{port}", "-external-url", f"http://127.0.0.1:{port}",
        "-backend", "filesystem", "-filesystem-root", data])

    def stop(*_):
        child.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for _ in range(600):  # the shim answers only once the emulator does
        if child.poll() is not None:
            sys.exit(f"gcs-xml-shim: fake-gcs-server exited ({child.returncode})")
        try:
            socket.create_connection(UPSTREAM, timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Shim)
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        child.terminate()


if __name__ == "__main__":
    main()
