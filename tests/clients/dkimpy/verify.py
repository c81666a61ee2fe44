"""Verify every DKIM signature of a message read on stdin with dkimpy, a
second independent verifier, looking keys up in the test DNS server.

usage: verify.py DNS_IP DNS_PORT < message
prints one line per signature: "<selector> pass|fail", exits 1 if any fails.
"""
import sys

import dkim
import dns.resolver


def main():
    ip, port = sys.argv[1], int(sys.argv[2])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [ip]
    resolver.port = port

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        try:
            answer = resolver.resolve(name, "TXT", lifetime=timeout)
        except Exception:
            return b""
        for rdata in answer:
            return b"".join(rdata.strings)
        return b""

    message = sys.stdin.buffer.read()
    d = dkim.DKIM(message)
    count = sum(1 for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                if line.lower().startswith(b"dkim-signature:"))
    ok = True
    for idx in range(count):
        result = d.verify(idx=idx, dnsfunc=dnsfunc)
        sel = d.signature_fields.get(b"s", b"?").decode()
        print(f"{sel} {'pass' if result else 'fail'}")
        ok = ok and result
    sys.exit(0 if ok and count else 1)


if __name__ == "__main__":
    main()
