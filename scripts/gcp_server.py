#!/usr/bin/env python3
"""Google test server: the OAuth2 token endpoint, the GCE metadata server and IAM Credentials
generateAccessToken, on 127.0.0.1, for registry-auth's [registry.gcp] tests.

  gcp_server.py --port 0 --config FILE [--audience URL] [--clock-offset S]
                [--exit-on-stdin-eof]

The first stdout line is "PORT <n>". FILE is JSON:

  {"service_accounts": {EMAIL: {"public_key_pem": PEM, "key_id": KID, "token": T?}},
   "metadata": {"email": EMAIL, "token": T?},                       (optional)
   "impersonation": {TARGET: {"allowed": [EMAIL, ...], "token": T?}}}

A token not given is random. Every token issued is remembered with its account, so
generateAccessToken knows who calls.

POST /token (form): the JWT-bearer grant, checked as Google checks it:
  grant_type urn:ietf:params:oauth:grant-type:jwt-bearer, else 400 unsupported_grant_type;
  the assertion RS256-signed by the key of its `iss` (kid must be that key's id), else 400
  invalid_grant "Invalid JWT Signature." (unknown iss: "Invalid grant: account not found");
  `aud` equal to --audience (default http://127.0.0.1:PORT/token), else 400 invalid_grant
  "Invalid JWT: Failed audience check.";
  `scope` holding https://www.googleapis.com/auth/cloud-platform, else 400 invalid_scope;
  `iat` and `exp` integers with exp - iat <= 3600, iat <= now + 60, exp > now, else 400
  invalid_grant "Invalid JWT: Token must be a short-lived token (60 minutes) and in a
  reasonable timeframe. Check your iat and exp values in the JWT claim.";
  -> 200 {"access_token", "expires_in": 3599, "token_type": "Bearer"}.
GET /computeMetadata/v1/instance/service-accounts/default/token and .../default/email:
  need Metadata-Flavor: Google (else 403) and no X-Forwarded-For (else 403); 404 without a
  "metadata" account; every reply carries Metadata-Flavor: Google.
POST /v1/projects/-/serviceAccounts/TARGET:generateAccessToken (JSON {"scope": [...],
  "lifetime": "Ns"}): Authorization: Bearer <a token issued here>, else 401 UNAUTHENTICATED;
  the caller in TARGET's "allowed", else 403 PERMISSION_DENIED; scope holding cloud-platform
  and lifetime <= 3600s, else 400 INVALID_ARGUMENT;
  -> 200 {"accessToken", "expireTime": RFC 3339}.
GET /_test/stats: request counts per path.

--clock-offset S adds S seconds to this server's clock: a client whose clock is off.
"""

import json
import sys
import threading

from cloud_common import (Handler, JwtError, common_args, jwt_parts, load_public_key,
                          new_token, rfc3339, serve, verify_rs256)

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
METADATA_PREFIX = "/computeMetadata/v1/instance/service-accounts/default/"
IAM_PREFIX = "/v1/projects/-/serviceAccounts/"
IAM_SUFFIX = ":generateAccessToken"
TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
             "timeframe. Check your iat and exp values in the JWT claim.")


class Google(Handler):
    name = "gcp_server"
    config = {}
    audience = None
    issued = {}
    lock = threading.Lock()

    def issue(self, principal, token):
        token = token or new_token("ya29.test-")
        with self.lock:
            self.issued[token] = principal
        return token

    def oauth_error(self, status, error, description):
        self.send(status, {"error": error, "error_description": description})

    def api_error(self, status, code, message):
        self.send(status, {"error": {"code": status, "message": message, "status": code}})

    def route(self, method, path):
        if path == "/token" and method == "POST":
            return self.token()
        if path.startswith(METADATA_PREFIX) and method == "GET":
            return self.metadata(path[len(METADATA_PREFIX):])
        if path.startswith(IAM_PREFIX) and path.endswith(IAM_SUFFIX) and method == "POST":
            return self.impersonate(path[len(IAM_PREFIX):-len(IAM_SUFFIX)])
        self.body()
        self.send(404, {"error": "not_found"})

    def token(self):
        form = self.form()
        if form.get("grant_type") != JWT_BEARER:
            return self.oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion", "")
        try:
            _, unverified, _, _ = jwt_parts(assertion)
        except JwtError:
            return self.oauth_error(400, "invalid_grant", "Invalid JWT: not a JWT.")
        account = self.config.get("service_accounts", {}).get(unverified.get("iss"))
        if account is None:
            return self.oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        try:
            header, claims = verify_rs256(assertion, load_public_key(account["public_key_pem"]))
        except JwtError:
            return self.oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if header.get("kid") != account["key_id"]:
            return self.oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != (self.audience or f"http://127.0.0.1:{self.port}/token"):
            return self.oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        if SCOPE not in str(claims.get("scope", "")).split():
            return self.oauth_error(400, "invalid_scope",
                                    "Invalid OAuth scope or ID token audience provided.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.now()
        if not (isinstance(iat, int) and isinstance(exp, int)
                and exp - iat <= 3600 and iat <= now + 60 and exp > now):
            return self.oauth_error(400, "invalid_grant", TIMEFRAME)
        token = self.issue(claims["iss"], account.get("token"))
        self.send(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def metadata(self, leaf):
        flavor = {"Metadata-Flavor": "Google"}
        if self.headers.get("Metadata-Flavor") != "Google" or self.headers.get("X-Forwarded-For"):
            return self.send(403, "Missing required header: Metadata-Flavor", "text/plain", flavor)
        meta = self.config.get("metadata")
        if not meta:
            return self.send(404, "Not Found", "text/plain", flavor)
        if leaf == "email":
            return self.send(200, meta["email"], "application/text", flavor)
        if leaf == "token":
            token = self.issue(meta["email"], meta.get("token"))
            return self.send(200, {"access_token": token, "expires_in": 3599,
                                   "token_type": "Bearer"}, extra=flavor)
        self.send(404, "Not Found", "text/plain", flavor)

    def impersonate(self, target):
        raw = self.body()
        auth = self.headers.get("Authorization", "")
        with self.lock:
            caller = self.issued.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if caller is None:
            return self.api_error(401, "UNAUTHENTICATED",
                                  "Request had invalid authentication credentials.")
        rule = self.config.get("impersonation", {}).get(target)
        if rule is None or caller not in rule.get("allowed", []):
            return self.api_error(403, "PERMISSION_DENIED",
                                  "Permission 'iam.serviceAccounts.getAccessToken' denied on "
                                  "resource (or it may not exist).")
        try:
            request = json.loads(raw or b"{}")
            lifetime = int(str(request.get("lifetime", "3600s")).rstrip("s"))
        except (ValueError, AttributeError):
            return self.api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if SCOPE not in request.get("scope", []) or not 0 < lifetime <= 3600:
            return self.api_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        token = self.issue(target, rule.get("token"))
        self.send(200, {"accessToken": token, "expireTime": rfc3339(self.now() + lifetime)})


def main(argv):
    p = common_args(__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="JSON: accounts, metadata, impersonation")
    p.add_argument("--audience", help="the aud the token endpoint requires")
    args = p.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        Google.config = json.load(f)
    Google.audience = args.audience
    return serve(Google, args, "token endpoint, metadata server, IAM credentials")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
