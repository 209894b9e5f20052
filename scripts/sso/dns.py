"""A DNS server on loopback for the domain verification and DKIM tests (PyPI dnslib, nobody here wrote
it). Answers TXT questions from a JSON file read at every question ({"name": ["text", ...]}), so
a test publishes a record by rewriting the file; any other name gets an empty answer.

Usage: python3 dns.py RECORDS.json   (prints "listening 127.0.0.1:PORT" once up)
"""
import json
import sys
import time

from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


class FileResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        if q.qtype == QTYPE.TXT:
            try:
                with open(self.path) as f:
                    records = json.load(f)
            except (OSError, ValueError):
                records = {}
            name = str(q.qname).rstrip(".").lower()
            for text in records.get(name, []):
                # A TXT record is strings of at most 255 bytes (a DKIM key is longer).
                raw = text.encode()
                parts = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(parts), ttl=0))
        return reply


def main():
    server = DNSServer(FileResolver(sys.argv[1]), address="127.0.0.1", port=0)
    server.start_thread()
    host, port = server.server.server_address
    print(f"listening {host}:{port}", flush=True)
    while server.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
