#!/usr/bin/env python3
"""Generate large Knot Resolver 6 configurations for the validate/convert benchmark.

usage: gen-config.py forward N OUT     N /forward items (one zone each, two servers, every 4th over TLS)
       gen-config.py addresses N OUT   /local-data/addresses with N names (every 10th with two addresses)

Only the standard library; the output is plain block YAML both kresctl implementations read.
"""
import sys


def forward(n, out):
    out.write("workers: 1\nforward:\n")
    for i in range(n):
        out.write(f"  - subtree: zone{i}.example.\n")
        if i % 4 == 3:
            out.write("    servers:\n")
            out.write(f"      - address: [192.0.2.{i % 250 + 1}, '2001:db8::{i % 65535 + 1:x}']\n")
            out.write(f"        transport: tls\n        hostname: dot{i % 100}.example.net\n")
        else:
            out.write(f"    servers: [192.0.2.{i % 250 + 1}, '2001:db8::{i % 65535 + 1:x}']\n")
        if i % 2:
            out.write("    options:\n      dnssec: false\n")


def addresses(n, out):
    out.write("workers: 1\nlocal-data:\n  ttl: 5m\n  addresses:\n")
    for i in range(n):
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        if i % 10 == 9:
            out.write(f"    host{i}.example.: [10.{a}.{b}.{c}, '2001:db8::{i >> 16:x}:{i & 0xFFFF:x}']\n")
        else:
            out.write(f"    host{i}.example.: 10.{a}.{b}.{c}\n")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("forward", "addresses"):
        sys.exit(__doc__)
    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "w", encoding="utf-8") as out:
        {"forward": forward, "addresses": addresses}[kind](n, out)


if __name__ == "__main__":
    main()
