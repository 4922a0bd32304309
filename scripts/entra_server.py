#!/usr/bin/env python3
"""Entra ID test server: the v2.0 token endpoint's client-credentials grant, the instance
metadata service's managed-identity endpoint and App Service's, on 127.0.0.1, for
registry-auth's [registry.azure] tests. The access tokens it issues are RS256 JWTs signed with
--signing-key, which acr_server.py verifies with the public half.

  entra_server.py --port 0 --config FILE --signing-key KEY.pem [--authority URL]
                  [--clock-offset S] [--exit-on-stdin-eof]

The first stdout line is "PORT <n>". FILE is JSON:

  {"tenants": {TENANT: {"apps": {CLIENT_ID: {"secret": S?, "secret_expired": bool?,
                                              "certificate_pem": PEM?}}}},
   "managed_identities": {"system": bool, "user": [CLIENT_ID, ...]},
   "identity_header": H?,
   "resources": [URI, ...]}          (default: ACR's and Azure Resource Manager's)

POST /TENANT/oauth2/v2.0/token (form), answered with Entra's error shape
({"error", "error_description": "AADSTSn: ...", "error_codes": [n], "trace_id",
"correlation_id"}) and these checks, in this order:
  unknown TENANT -> 400 AADSTS90002; grant_type not client_credentials -> 400 AADSTS70003;
  unknown client_id -> 400 AADSTS700016; scope not RESOURCE/.default of a known resource ->
  400 AADSTS500011;
  client_secret: wrong -> 401 AADSTS7000215; expired -> 401 AADSTS7000222;
  client_assertion (type jwt-bearer): x5t not the SHA-1 of the app's certificate, or the
  RS256 signature not by its key -> 401 AADSTS700027; aud not --authority/TENANT/oauth2/v2.0/token
  (default authority http://127.0.0.1:PORT) -> 401 AADSTS700023; iss or sub not the client
  id -> 401 AADSTS700021; nbf/exp not around now, or longer than an hour -> 401 AADSTS700024;
  -> 200 {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in", "access_token"}.
GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=C]: needs
  Metadata: true (else 400 "Required metadata header not specified"); an unknown identity ->
  400 "Identity not found"; -> 200 with expires_in/expires_on as strings, as IMDS writes them.
GET /msi/token?api-version=2019-08-01&resource=R[&client_id=C]: needs X-IDENTITY-HEADER equal
  to "identity_header" (else 401); -> 200 {"access_token", "expires_on", "resource", ...}.
GET /_test/stats: request counts per path.
"""

import json
import secrets
import sys
import uuid

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from cloud_common import (Handler, JwtError, common_args, jwt_parts, load_private_key,
                          sha1_b64url, serve, sign_rs256, verify_rs256)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_RESOURCES = ["https://containerregistry.azure.net", "https://management.azure.com"]
MESSAGES = {
    90002: "Tenant not found.",
    70003: "The app requested an unsupported grant type.",
    700016: "Application was not found in the directory.",
    500011: "The resource principal was not found in the tenant.",
    7000215: "Invalid client secret provided.",
    7000222: "The provided client secret keys are expired.",
    700027: "Client assertion failed signature validation.",
    700023: "Client assertion audience claim does not match Realm issuer.",
    700021: "Client assertion application identifier doesn't match 'client_id' parameter.",
    700024: "Client assertion is not within its valid time range.",
}


class Entra(Handler):
    name = "entra_server"
    config = {}
    signing_key = None
    authority = None

    def aad_error(self, status, error, number):
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        self.send(status, {
            "error": error,
            "error_description": f"AADSTS{number}: {MESSAGES[number]} Trace ID: {trace} "
                                 f"Correlation ID: {correlation}",
            "error_codes": [number],
            "trace_id": trace,
            "correlation_id": correlation,
        })

    def access_token(self, tenant, resource, subject, lifetime=3599):
        now = int(self.now())
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant,
                  "appid": subject, "oid": subject, "iat": now, "nbf": now, "exp": now + lifetime,
                  "uti": secrets.token_urlsafe(8)}
        return sign_rs256(self.signing_key, {"kid": "test-signing-key"}, claims)

    def resources(self):
        return self.config.get("resources", DEFAULT_RESOURCES)

    def route(self, method, path):
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self.token(parts[0])
        if method == "GET" and path == "/metadata/identity/oauth2/token":
            return self.imds()
        if method == "GET" and path == "/msi/token":
            return self.app_service()
        self.body()
        self.send(404, {"error": "not_found"})

    def token(self, tenant):
        form = self.form()
        apps = self.config.get("tenants", {}).get(tenant, {}).get("apps")
        if apps is None:
            return self.aad_error(400, "invalid_request", 90002)
        if form.get("grant_type") != "client_credentials":
            return self.aad_error(400, "unsupported_grant_type", 70003)
        client_id = form.get("client_id", "")
        app = apps.get(client_id)
        if app is None:
            return self.aad_error(400, "unauthorized_client", 700016)
        scope = form.get("scope", "")
        resource = scope[:-len("/.default")] if scope.endswith("/.default") else None
        if resource not in self.resources():
            return self.aad_error(400, "invalid_resource", 500011)
        if "client_secret" in form:
            if form["client_secret"] != app.get("secret"):
                return self.aad_error(401, "invalid_client", 7000215)
            if app.get("secret_expired"):
                return self.aad_error(401, "invalid_client", 7000222)
        elif form.get("client_assertion_type") == ASSERTION_TYPE and app.get("certificate_pem"):
            number = self.check_assertion(tenant, client_id, app, form.get("client_assertion", ""))
            if number:
                return self.aad_error(401, "invalid_client", number)
        else:
            return self.aad_error(401, "invalid_client", 7000215)
        self.send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                        "access_token": self.access_token(tenant, resource, client_id)})

    def check_assertion(self, tenant, client_id, app, assertion):
        """The AADSTS number that refuses `assertion`, or None."""
        cert = x509.load_pem_x509_certificate(app["certificate_pem"].encode())
        thumbprint = sha1_b64url(cert.public_bytes(Encoding.DER))
        try:
            header, _, _, _ = jwt_parts(assertion)
            if header.get("x5t") != thumbprint:
                return 700027
            _, claims = verify_rs256(assertion, cert.public_key())
        except JwtError:
            return 700027
        authority = self.authority or f"http://127.0.0.1:{self.port}"
        if claims.get("aud") != f"{authority}/{tenant}/oauth2/v2.0/token":
            return 700023
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return 700021
        nbf, exp, now = claims.get("nbf", 0), claims.get("exp"), self.now()
        if not (isinstance(exp, int) and nbf <= now + 300 and exp > now - 300
                and exp - nbf <= 3600 and claims.get("jti")):
            return 700024
        return None

    def managed_token(self, client_id, resource):
        """The reply for a managed identity, or (status, error) when there is none."""
        identities = self.config.get("managed_identities", {})
        known = client_id in identities.get("user", []) if client_id else identities.get("system")
        if not known:
            return 400, {"error": "invalid_request", "error_description": "Identity not found"}
        if resource not in self.resources():
            return 400, {"error": "invalid_resource",
                         "error_description": "AADSTS500011: resource principal not found"}
        now = int(self.now())
        subject = client_id or "system-assigned"
        return 200, {"access_token": self.access_token("managed", resource, subject, 86399),
                     "client_id": subject, "expires_in": "86399", "expires_on": str(now + 86399),
                     "ext_expires_in": "86399", "not_before": str(now), "resource": resource,
                     "token_type": "Bearer"}

    def imds(self):
        if self.headers.get("Metadata") != "true":
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "Required metadata header not specified"})
        q = self.query()
        if q.get("api-version") != "2018-02-01":
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "Invalid api-version"})
        status, body = self.managed_token(q.get("client_id"), q.get("resource"))
        self.send(status, body)

    def app_service(self):
        expected = self.config.get("identity_header")
        if not expected or self.headers.get("X-IDENTITY-HEADER") != expected:
            return self.send(401, {"statusCode": 401, "message": "Unauthorized"})
        q = self.query()
        if q.get("api-version") != "2019-08-01":
            return self.send(400, {"statusCode": 400, "message": "Invalid api-version"})
        status, body = self.managed_token(q.get("client_id"), q.get("resource"))
        if status == 200:
            body = {k: body[k] for k in ("access_token", "expires_on", "resource", "token_type",
                                         "client_id")}
        self.send(status, body)


def main(argv):
    p = common_args(__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="JSON: tenants, managed identities")
    p.add_argument("--signing-key", required=True, help="PEM key the access tokens are signed with")
    p.add_argument("--authority", help="the authority the client assertion's aud must name")
    args = p.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        Entra.config = json.load(f)
    Entra.signing_key = load_private_key(args.signing_key)
    Entra.authority = args.authority
    return serve(Entra, args, "token endpoint, managed identity")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
