"""lambda_handler.py - a Lambda function that reads from the cache node in
its own Availability Zone.

Deploy with the azroute layer (``make lambda-layer`` writes
azroute-lambda-layer.zip) and this file plus azroute.ini (see the one next
to it) as the function's code; set CACHE_NODES to the replication group's
nodes. Handler: ``lambda_handler.handler``.

At Init the router learns the AZ ID once from the Lambda metadata endpoint
($AWS_LAMBDA_METADATA_API, $AWS_LAMBDA_METADATA_TOKEN) and each GET then
goes to a same-AZ node (falling back to the others if none is healthy).

Run locally against three local TLS nodes and a local metadata endpoint:
``bindings/python/examples/run_local.sh``; or by hand, with the Lambda
variables pointing at a local endpoint: ``python3 lambda_handler.py KEY``.
"""
import json
import os
import sys

import azroute

CONFIG = os.environ.get(
    "AZROUTE_CONFIG",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "azroute.ini"))

# Init phase: once per execution environment (and so once per AZ lookup).
router = azroute.open(CONFIG)


def handler(event, context):
    """Reads event["key"] (default "greeting") from the same-AZ node."""
    key = (event or {}).get("key", "greeting")
    value, node = router.execute("GET", key, with_node=True)
    return {
        "az_id": router.az_id,          # e.g. "apne1-az2"
        "az_source": router.az_source,  # "lambda"
        "node": node,
        "same_az": node in {n.id for n in router.nodes if n.same_az},
        "key": key,
        "value": None if value is None else value.decode("utf-8", "replace"),
    }


if __name__ == "__main__":
    event = {"key": sys.argv[1]} if len(sys.argv) > 1 else {}
    print(json.dumps(handler(event, None)))
