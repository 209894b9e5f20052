"""Verifies the DKIM signature of a delivered message with PyPI dkimpy (nobody here wrote it),
looking the public key up in the test's own DNS server (PyPI dnslib, scripts/sso/dns.py).

Usage: python3 dkim_verify.py MESSAGE.eml 127.0.0.1:PORT
Prints "pass" (exit 0) or "fail" (exit 1).
"""
import sys

import dkim
from dnslib import DNSRecord


def main():
    path, server = sys.argv[1], sys.argv[2]
    host, port = server.rsplit(":", 1)

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        reply = DNSRecord.parse(
            DNSRecord.question(name.rstrip("."), "TXT").send(host, int(port), timeout=timeout)
        )
        return b"".join(
            b"".join(part for part in rr.rdata.data) for rr in reply.rr
        )

    with open(path, "rb") as f:
        message = f.read()
    ok = dkim.verify(message, dnsfunc=dnsfunc)
    print("pass" if ok else "fail")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
