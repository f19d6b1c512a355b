"""The Standard Webhooks reference library, driven by the interop tests.

Reads a JSON list of jobs on stdin and writes a JSON list of results:
  {"sign": {"secret", "id", "timestamp", "body"}}  -> {"signature": "v1,..."}
  {"verify": {"secret", "headers", "body"}}        -> {"ok": true} or {"error": "..."}
"""

import datetime
import hashlib
import hmac
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def run(job):
    if "sign" in job:
        j = job["sign"]
        when = datetime.datetime.fromtimestamp(j["timestamp"], tz=datetime.timezone.utc)
        return {"signature": Webhook(j["secret"]).sign(j["id"], when, j["body"])}
    if "verify" in job:
        j = job["verify"]
        try:
            Webhook(j["secret"]).verify(j["body"].encode(), j["headers"])
            return {"ok": True}
        except WebhookVerificationError as e:
            return {"error": str(e)}
    if "github" in job:
        j = job["github"]
        digest = hmac.new(j["secret"].encode(), j["body"].encode(), hashlib.sha256).hexdigest()
        return {"signature": "sha256=" + digest}
    raise ValueError(f"unknown job {job}")


json.dump([run(job) for job in json.load(sys.stdin)], sys.stdout)
