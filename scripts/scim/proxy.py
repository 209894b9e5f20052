"""A loopback proxy between scim2-tester and watchword's SCIM endpoint.

scim2-tester invents user names (random strings, `uuid@uuid.com`); watchword provisions only
addresses in the account's verified domain. The proxy maps every user name the tester sends to
`u-<name>@<domain>` (names of lower-case letters, digits and dashes) or `x-<hex of the name>@<domain>`,
and maps them back in answers, so the domain rule is exercised,
never relaxed. Usage: proxy.py <listen port> <watchword base URL> <domain>; prints
"listening 127.0.0.1:<port>" once ready.
"""

import http.client
import http.server
import json
import re
import sys
import urllib.parse

PORT, UPSTREAM, DOMAIN = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), sys.argv[3]
MAPPED = re.compile(r"\b([ux])-([0-9a-z-]+)@" + re.escape(DOMAIN))
PLAIN = re.compile(r"[0-9a-z-]{1,62}")
SEEN = {}


def forward(name):
    if name.lower().endswith("@" + DOMAIN):
        return name
    if PLAIN.fullmatch(name):
        mapped = "u-" + name + "@" + DOMAIN
    else:
        mapped = "x-" + name.encode().hex() + "@" + DOMAIN
    SEEN[name] = mapped
    return mapped


def back(text):
    def one(m):
        return m.group(2) if m.group(1) == "u" else bytes.fromhex(m.group(2)).decode()

    return MAPPED.sub(one, text)


def walk(value, key=None):
    if isinstance(value, dict):
        return {k: walk(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [walk(v, key) for v in value]
    if isinstance(value, str) and key is not None and key.lower().endswith("username"):
        return forward(value)
    return value


def patch_paths(body):
    for op in body.get("Operations", []) if isinstance(body, dict) else []:
        path = str(op.get("path", ""))
        if path.lower().endswith("username") and isinstance(op.get("value"), str):
            op["value"] = forward(op["value"])
    return body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if body:
            try:
                body = json.dumps(patch_paths(walk(json.loads(body)))).encode()
            except ValueError:
                pass
        path = self.path
        if "?" in path:
            base, query = path.split("?", 1)
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            fixed = []
            for k, v in pairs:
                if k == "filter":
                    v = re.sub(
                        r'(userName\s+\w+\s+)"([^"]*)"',
                        lambda m: m.group(1) + json.dumps(forward(m.group(2))),
                        v,
                        flags=re.IGNORECASE,
                    )
                fixed.append((k, v))
            path = base + "?" + urllib.parse.urlencode(fixed, quote_via=urllib.parse.quote)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        headers["content-length"] = str(len(body))
        conn.request(self.command, UPSTREAM.path.rstrip("/") + path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        if data:
            text = data.decode().replace(sys.argv[2].rstrip("/"), f"http://127.0.0.1:{PORT}")
            data = back(text).encode()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            if k.lower() == "location":
                v = v.replace(sys.argv[2].rstrip("/"), f"http://127.0.0.1:{PORT}")
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
PORT = server.server_address[1]
print(f"listening 127.0.0.1:{PORT}", flush=True)
server.serve_forever()
