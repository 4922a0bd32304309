#!/usr/bin/env python3
"""Key material for the Google and Azure tests, made fresh on every run (nothing secret is
committed): RSA keys, a service-account key file, a certificate, an ACR refresh token.
Needs the `cryptography` package (the emulator venv has it: moto depends on it).
Files holding a private key are written 0600. Each command prints one JSON object.

  cloud_fixture.py gcp-key --dir D --name N --email E --token-uri U [--key-id K]
      D/N.json: a service-account key file (type service_account, PKCS#8 private_key)
      -> {"key_file", "key_id", "public_key_pem"}
  cloud_fixture.py azure-cert --dir D --name N --client-id C [--pkcs1]
      D/N.pem: the private key, then a self-signed certificate (as az ad sp create-for-rbac
      --create-cert writes it); --pkcs1 writes the key as "RSA PRIVATE KEY"
      -> {"pem", "certificate_pem", "thumbprint"}   (thumbprint: upper-case hex SHA-1)
  cloud_fixture.py signing-key --dir D --name N
      D/N.key.pem (private) and D/N.pub.pem -> {"private", "public"}
  cloud_fixture.py acr-refresh-token --service S --ttl SECONDS
      -> {"refresh_token"}: a JWT in the shape of ACR's (HS256 with a throwaway key; clients
      only read its exp), exp = now + SECONDS (negative: already expired), short enough for
      htpasswd (at most 255 characters)
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cloud_common import b64url


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key, pkcs1=False):
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def gcp_key(args):
    key = new_key()
    key_id = args.key_id or secrets.token_hex(20)
    doc = {
        "type": "service_account",
        "project_id": args.email.split("@")[1].split(".")[0],
        "private_key_id": key_id,
        "private_key": private_pem(key),
        "client_email": args.email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": args.token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    path = os.path.join(args.dir, f"{args.name}.json")
    write_private(path, json.dumps(doc, indent=2))
    return {"key_file": path, "key_id": key_id, "public_key_pem": public_pem(key)}


def azure_cert(args):
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"registry-auth-test {args.client_id}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    path = os.path.join(args.dir, f"{args.name}.pem")
    write_private(path, private_pem(key, args.pkcs1) + cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"pem": path, "certificate_pem": cert_pem,
            "thumbprint": hashlib.sha1(der).hexdigest().upper()}


def signing_key(args):
    key = new_key()
    private = os.path.join(args.dir, f"{args.name}.key.pem")
    public = os.path.join(args.dir, f"{args.name}.pub.pem")
    write_private(private, private_pem(key))
    with open(public, "w", encoding="utf-8") as f:
        f.write(public_pem(key))
    return {"private": private, "public": public}


def acr_refresh_token(args):
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    # ACR's own tokens carry more claims; this one stays within htpasswd's 255 characters,
    # since the test registry stores it as a password. Clients read only its exp.
    claims = {"exp": now + args.ttl, "iat": now, "aud": args.service,
              "iss": "Azure Container Registry"}
    compact = lambda v: b64url(json.dumps(v, separators=(",", ":")).encode())
    signing_input = compact(header) + "." + compact(claims)
    signature = hmac.new(secrets.token_bytes(32), signing_input.encode(), hashlib.sha256).digest()
    return {"refresh_token": signing_input + "." + b64url(signature)}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gcp-key")
    g.add_argument("--dir", required=True)
    g.add_argument("--name", required=True)
    g.add_argument("--email", required=True)
    g.add_argument("--token-uri", required=True)
    g.add_argument("--key-id")
    a = sub.add_parser("azure-cert")
    a.add_argument("--dir", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--client-id", required=True)
    a.add_argument("--pkcs1", action="store_true")
    s = sub.add_parser("signing-key")
    s.add_argument("--dir", required=True)
    s.add_argument("--name", required=True)
    r = sub.add_parser("acr-refresh-token")
    r.add_argument("--service", required=True)
    r.add_argument("--ttl", type=int, required=True)
    args = p.parse_args(argv)
    run = {"gcp-key": gcp_key, "azure-cert": azure_cert, "signing-key": signing_key,
           "acr-refresh-token": acr_refresh_token}[args.command]
    json.dump(run(args), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
