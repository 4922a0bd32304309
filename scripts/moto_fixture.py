#!/usr/bin/env python3
"""IAM fixtures in the running moto server, for the registry-auth integration tests.

Run with the emulator venv's python ($MOTO_PYTHON); needs boto3 (a moto dependency).
Reads MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID and MOTO_ADMIN_SECRET_ACCESS_KEY from
the environment (see `scripts/emulator env`). Each subcommand prints one JSON object
on stdout; errors go to stderr with a non-zero exit (1: AWS error, 2: usage/env).

  user NAME (--policy-file F | --policy-json J | --no-policy)
      IAM user + inline user policy "fixture-policy" + access key
      -> {"user_arn", "access_key_id", "secret_access_key"}
  role NAME --trust-json J --policy-json J
      IAM role with that trust policy + inline role policy "fixture-policy"
      -> {"role_arn"}
  assume-role ROLE_ARN --access-key-id A --secret-access-key S [--session-token T]
              [--external-id X] [--session-name N] [--duration 3600]
      STS AssumeRole as that principal
      -> {"access_key_id", "secret_access_key", "session_token", "expiration"}
  image REPOSITORY --tag TAG
      ECR repository REPOSITORY (made if missing) with a small image manifest put
      under TAG, as the admin; moto's digest is a hash of the layer digests, and the
      one layer's digest is derived from REPOSITORY:TAG, so each image's differs
      -> {"registry_id", "repository", "repository_uri", "tag", "digest"}
"""

import argparse
import datetime
import json
import os
import re
import sys

REGION_DEFAULT = "us-east-1"
INLINE_POLICY_NAME = "fixture-policy"


def fail(msg, code=2):
    print(f"moto_fixture: {msg}", file=sys.stderr)
    sys.exit(code)


def env(name):
    value = os.environ.get(name)
    if not value:
        fail(f"{name} is not set (source the output of `scripts/emulator env`)")
    return value


def client(service, akid, secret, token=None, region=None):
    import boto3
    import botocore.config

    return boto3.client(
        service,
        endpoint_url=env("MOTO_ENDPOINT"),
        region_name=region or os.environ.get("AWS_REGION") or REGION_DEFAULT,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=botocore.config.Config(
            retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30
        ),
    )


def admin_client(service):
    return client(
        service, env("MOTO_ADMIN_ACCESS_KEY_ID"), env("MOTO_ADMIN_SECRET_ACCESS_KEY")
    )


def error_code(e):
    # moto answers some JSON-protocol denials (ECR) with an XML body, which botocore
    # reports as Code "<status>" with the XML as message: dig the real code out.
    err = e.response.get("Error", {})
    code, msg = err.get("Code"), err.get("Message") or ""
    m = re.search(r"<Code>([^<]+)</Code>", msg)
    if m:
        code = m.group(1)
        mm = re.search(r"<Message>([^<]*)</Message>", msg)
        msg = mm.group(1) if mm else msg
    return code, msg


def load_policy(text, what):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{what} is not valid JSON: {e}")
    if not isinstance(doc, dict):
        fail(f"{what} must be a JSON object")
    return json.dumps(doc)


def iso8601(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def cmd_user(args):
    policy = None
    if args.policy_file is not None:
        try:
            with open(args.policy_file, encoding="utf-8") as f:
                policy = load_policy(f.read(), args.policy_file)
        except OSError as e:
            fail(f"cannot read policy file: {e}")
    elif args.policy_json is not None:
        policy = load_policy(args.policy_json, "--policy-json")

    iam = admin_client("iam")
    user = iam.create_user(UserName=args.name)["User"]
    if policy is not None:
        iam.put_user_policy(
            UserName=args.name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=policy
        )
    key = iam.create_access_key(UserName=args.name)["AccessKey"]
    return {
        "user_arn": user["Arn"],
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
    }


def cmd_role(args):
    trust = load_policy(args.trust_json, "--trust-json")
    policy = load_policy(args.policy_json, "--policy-json")
    iam = admin_client("iam")
    role = iam.create_role(RoleName=args.name, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(
        RoleName=args.name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=policy
    )
    return {"role_arn": role["Arn"]}


def cmd_assume_role(args):
    sts = client("sts", args.access_key_id, args.secret_access_key, args.session_token)
    params = {
        "RoleArn": args.role_arn,
        "RoleSessionName": args.session_name,
        "DurationSeconds": args.duration,
    }
    if args.external_id is not None:
        params["ExternalId"] = args.external_id
    creds = sts.assume_role(**params)["Credentials"]
    return {
        "access_key_id": creds["AccessKeyId"],
        "secret_access_key": creds["SecretAccessKey"],
        "session_token": creds["SessionToken"],
        "expiration": iso8601(creds["Expiration"]),
    }


def cmd_image(args):
    import hashlib

    ecr = admin_client("ecr")
    try:
        repo = ecr.create_repository(repositoryName=args.repository)["repository"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        repo = ecr.describe_repositories(repositoryNames=[args.repository])["repositories"][0]
    layer = hashlib.sha256(f"{args.repository}:{args.tag}".encode()).hexdigest()
    config = hashlib.sha256(f"config {args.repository}:{args.tag}".encode()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": f"sha256:{config}",
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32,
                "digest": f"sha256:{layer}",
            }
        ],
    }
    try:
        image = ecr.put_image(
            repositoryName=args.repository,
            imageManifest=json.dumps(manifest),
            imageTag=args.tag,
        )["image"]
    except ecr.exceptions.ImageAlreadyExistsException:
        # The same repository and tag always give the same manifest: already there is done.
        image = ecr.batch_get_image(
            repositoryName=args.repository, imageIds=[{"imageTag": args.tag}]
        )["images"][0]
    return {
        "registry_id": repo["registryId"],
        "repository": repo["repositoryName"],
        "repository_uri": repo["repositoryUri"],
        "tag": args.tag,
        "digest": image["imageId"]["imageDigest"],
    }


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="moto_fixture.py",
        description="IAM fixtures in the running moto server (see scripts/README.md)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    u = sub.add_parser("user", help="IAM user with an inline policy and an access key")
    u.add_argument("name")
    g = u.add_mutually_exclusive_group(required=True)
    g.add_argument("--policy-file")
    g.add_argument("--policy-json")
    g.add_argument("--no-policy", action="store_true")
    u.set_defaults(func=cmd_user)

    r = sub.add_parser("role", help="IAM role with a trust policy and an inline policy")
    r.add_argument("name")
    r.add_argument("--trust-json", required=True)
    r.add_argument("--policy-json", required=True)
    r.set_defaults(func=cmd_role)

    a = sub.add_parser("assume-role", help="STS AssumeRole as the given principal")
    a.add_argument("role_arn")
    a.add_argument("--access-key-id", required=True)
    a.add_argument("--secret-access-key", required=True)
    a.add_argument("--session-token")
    a.add_argument("--external-id")
    a.add_argument("--session-name", default="registry-auth-test")
    a.add_argument("--duration", type=int, default=3600)
    a.set_defaults(func=cmd_assume_role)

    i = sub.add_parser("image", help="ECR repository with a small image under a tag")
    i.add_argument("repository")
    i.add_argument("--tag", required=True)
    i.set_defaults(func=cmd_image)

    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        import botocore.exceptions
    except ImportError:
        fail("boto3/botocore not importable: run with the emulator venv python ($MOTO_PYTHON)")
    try:
        out = args.func(args)
    except botocore.exceptions.ClientError as e:
        code, msg = error_code(e)
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        fail(f"{args.command}: {code} (HTTP {status}): {msg}", code=1)
    except botocore.exceptions.BotoCoreError as e:
        fail(f"{args.command}: {e}", code=1)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
