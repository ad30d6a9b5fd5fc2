#!/usr/bin/env python3
"""The SAM template against the code it deploys and the Terraform that feeds it, offline.

  - every Lambda crate in functions/ (a src/main.rs; local-gateway is not deployed) is one function built by
    cargo-lambda (Metadata BuildMethod rust-cargolambda, Binary = crate name) on provided.al2023 / arm64,
    and the Makefile's FUNCTIONS list names the same set;
  - each function's HTTP routes (HttpApi events, and the paths of a REST API's OpenAPI body whose integration
    invokes the function's alias) are exactly the routes its router declares (functions/<name>/src/lib.rs),
    and together they are docs/openapi.json's paths except the local-only /healthz;
  - a function that answers through lambda_http's streaming runtime (run_with_streaming_response: turns, which
    must) is reached only through streaming integrations, and no other function is: a regional REST API,
    responseTransferMode STREAM, the 2021-11-15 response-streaming-invocations URI of its alias, an integration
    timeout from its own timeout up to API Gateway's 15 minutes, AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH set (or
    lambda_http puts the stage in front of the router's paths), and HELIX_STREAM_KEEP_ALIVE set shorter than
    CloudFront's origin read timeout (Terraform's api_origin_read_timeout) and the REST API's 5-minute idle timeout;
  - lambda_http is built with the payload formats the template sends (apigw_http, apigw_rest);
  - CloudFront (infra/terraform/modules/web) sends each route to the API that serves it, and the stack's
    ApiOrigins output has exactly the fields of Terraform's api_origins variable;
  - the functions that embed (their main checks memory's schema at cold start: memory, turns) and the one that
    sizes memory's vectors (db-migrate) set HELIX_EMBEDDING_PROVIDER from the EmbeddingProvider parameter,
    which offers only the providers that need no in-process model; the embedders' roles, and only theirs, may
    invoke the bedrock embedding models of prices.json (in the stack's region) when that provider is bedrock;
  - the functions that call providers (turns, memory) outlive their provider calls and the settling after
    them: Timeout > calls in a row x HELIX_ENGINE_DEADLINE + SETTLE_MARGIN_S (a turn: the memory recall's
    embedding, then the model call), so a call always settles or releases its hold before Lambda kills it;
  - BedrockModelIds defaults to the bedrock models of shared/pricing/prices.json;
  - Terraform creates a log group for each function and a latency alarm for each one behind the API, and
    its sam_parameter_overrides output sets every
    template parameter without a default (and nothing the template does not declare);
  - every checkov skip in the template carries a reason.
Prints the problems (if any), then one summary line; exit 1 on a problem.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

import hcl2
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra/sam/template.yaml"
NOT_DEPLOYED = {"local-gateway"}
LOCAL_ONLY_PATHS = {"/healthz"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Time for settling after the last provider call: one ledger transaction (and the idempotent answer with it).
SETTLE_MARGIN_S = 10
# Provider calls one request may make one after another, each cut at HELIX_ENGINE_DEADLINE, before its last
# one settles: a turn embeds its question for the memory recall, then calls the model (whose deadline counts
# from its own reservation).
SEQUENTIAL_CALLS = {"turns": 2}
# Must answer through lambda_http's streaming runtime (server-sent events for "stream": true).
MUST_STREAM = {"turns"}
KEEP_ALIVE_SETTING = "HELIX_STREAM_KEEP_ALIVE"  # the longest silence in a streamed answer
REST_STREAM_MAX_TIMEOUT_MS = 900_000  # API Gateway: a streamed response lasts up to 15 minutes
REST_REGIONAL_IDLE_TIMEOUT_S = 300  # API Gateway: a regional REST stream may be silent this long
STREAMING_URI = re.compile(
    r"arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2021-11-15/functions/"
    r"\$\{(\w+)\.Alias\}/response-streaming-invocations"
)
INTEGRATION_TARGET = re.compile(r"/functions/\$\{(\w+)(?:\.\w+)?\}/")
LAMBDA_HTTP_DEFAULT_FEATURES = {"apigw_rest", "apigw_http", "apigw_websockets", "alb", "vpc_lattice", "tracing"}


def router_routes(crate: Path) -> set[tuple[str, str]]:
    """(METHOD, path) pairs of every `.route("<path>", get(..).post(..))` in the crate's sources."""
    text = " ".join(p.read_text() for p in sorted((crate / "src").rglob("*.rs")))
    routes = set()
    calls = text.split(".route(")[1:]
    for call in calls:
        match = re.match(r'\s*"([^"]+)"\s*,(.*)', call, re.S)
        if not match:
            continue
        path, rest = match.groups()
        # The method chain ends where the next builder call or statement begins.
        chain = re.split(r"\)\s*\.(?:layer|with_state|merge|nest|fallback)\b|;", rest)[0]
        for method in re.findall(r"\b(" + "|".join(HTTP_METHODS) + r")\(", chain):
            routes.add((method.upper(), path))
    return routes


def crate_sources(crate: Path) -> str:
    return " ".join(p.read_text() for p in sorted((crate / "src").rglob("*.rs")))


def conditional_statements(role: dict) -> list[tuple[set[str], dict]]:
    """Every statement of the role's inline policies with the conditions (Fn::If names) it sits under."""
    found = []

    def unwrap(node, conditions: set[str]):
        """A node, or the true branch of an Fn::If around it (the false branch is AWS::NoValue here)."""
        if isinstance(node, dict) and "Fn::If" in node:
            name, when_true, _ = node["Fn::If"]
            return unwrap(when_true, conditions | {name})
        return node, conditions

    for policy in role["Properties"].get("Policies", []):
        policy, conditions = unwrap(policy, set())
        if not isinstance(policy, dict):
            continue
        statements = policy.get("PolicyDocument", {}).get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            statement, inner = unwrap(statement, conditions)
            if isinstance(statement, dict):
                found.append((inner, statement))
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def rest_routes(resources: dict) -> dict[str, list[tuple[str, str, str, dict]]]:
    """Per function logical id: (METHOD, path, api logical id, integration) of every operation in the OpenAPI
    body of an AWS::Serverless::Api that invokes it (CORS preflights are SAM's, added at transform)."""
    found: dict[str, list[tuple[str, str, str, dict]]] = {}
    for api_id, api in resources.items():
        if api["Type"] != "AWS::Serverless::Api":
            continue
        for path, operations in api["Properties"].get("DefinitionBody", {}).get("paths", {}).items():
            for method, operation in operations.items():
                if method not in HTTP_METHODS:
                    continue
                integration = operation.get("x-amazon-apigateway-integration", {})
                uri = integration.get("uri", {})
                uri = uri.get("Fn::Sub", "") if isinstance(uri, dict) else uri
                target = INTEGRATION_TARGET.search(uri if isinstance(uri, str) else "")
                found.setdefault(target.group(1) if target else "?", []).append((method.upper(), path, api_id, integration))
    return found


def duration_seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)s", text)
    if not match:
        raise ValueError(f"expected a duration like 120s, got {text!r}")
    return int(match.group(1))


def main() -> int:
    problems: list[str] = []
    template = yaml_parse(TEMPLATE.read_text())
    resources = template["Resources"]
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}

    crates = {
        d.name for d in (ROOT / "functions").iterdir() if (d / "src/main.rs").is_file() and d.name not in NOT_DEPLOYED
    }
    by_binary: dict[str, tuple[str, dict]] = {}
    for logical_id, function in functions.items():
        metadata = function.get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if metadata.get("BuildMethod") != "rust-cargolambda" or not binary:
            problems.append(f"{logical_id}: needs Metadata BuildMethod rust-cargolambda and BuildProperties Binary")
            continue
        by_binary[binary] = (logical_id, function)
        props = function["Properties"]
        if props.get("Runtime", globals_.get("Runtime")) != "provided.al2023":
            problems.append(f"{logical_id}: Runtime must be provided.al2023 (glibc 2.29+)")
        if props.get("Architectures", globals_.get("Architectures")) != ["arm64"]:
            problems.append(f"{logical_id}: Architectures must be [arm64] (make package builds --arm64)")
        for skip in function.get("Metadata", {}).get("checkov", {}).get("skip", []):
            if len(skip.get("comment", "").strip()) < 15:
                problems.append(f"{logical_id}: checkov skip {skip.get('id')} has no reason")
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                if len(skip.get("comment", "").strip()) < 15:
                    problems.append(f"{logical_id}: checkov skip {skip.get('id')} has no reason")

    for missing in sorted(crates - set(by_binary)):
        problems.append(f"functions/{missing} is a Lambda crate but the template does not deploy it")
    for unknown in sorted(set(by_binary) - crates):
        problems.append(f"the template builds {unknown!r}, which is not a crate in functions/")

    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^FUNCTIONS\s*:?=\s*(.*)$", makefile, re.M)
    if not listed or set(listed.group(1).split()) != set(by_binary):
        problems.append("the Makefile's FUNCTIONS list differs from the template's functions")

    # Routes: the template against each router, and all of them against the OpenAPI document.
    rest = rest_routes(resources)
    for unknown in sorted(set(rest) - {logical_id for logical_id, _ in by_binary.values()}):
        for method, path, api_id, _ in rest[unknown]:
            problems.append(f"{api_id}: {method} {path} invokes no function of the template (uri ${{<Function>.Alias}})")
    deployed_routes: set[tuple[str, str]] = set()
    api_of_route: dict[tuple[str, str], str] = {}
    for binary, (logical_id, function) in sorted(by_binary.items()):
        events = function["Properties"].get("Events", {})
        http_routes = {
            (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
            for e in events.values()
            if e["Type"] == "HttpApi"
        }
        rest_of_function = {(method, path) for method, path, _, _ in rest.get(logical_id, [])}
        routes = http_routes | rest_of_function
        api_of_route.update({route: "http" for route in http_routes} | {route: "rest" for route in rest_of_function})
        declared = router_routes(ROOT / "functions" / binary)
        for method, path in sorted(routes - declared):
            problems.append(f"{logical_id}: routes {method} {path}, which functions/{binary} does not serve")
        for method, path in sorted(declared - routes):
            problems.append(f"{logical_id}: functions/{binary} serves {method} {path}, but no route reaches it")
        overlap = deployed_routes & routes
        for method, path in sorted(overlap):
            problems.append(f"{method} {path} is routed to more than one function")
        deployed_routes |= routes
    openapi = json.loads((ROOT / "docs/openapi.json").read_text())
    documented = {
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        if path not in LOCAL_ONLY_PATHS
        for method in operations
        if method in HTTP_METHODS
    }
    for method, path in sorted(documented - deployed_routes):
        problems.append(f"docs/openapi.json documents {method} {path}, but the template routes it nowhere")
    for method, path in sorted(deployed_routes - documented):
        problems.append(f"the template routes {method} {path}, which docs/openapi.json does not document")

    sources = {binary: crate_sources(ROOT / "functions" / binary) for binary in by_binary}

    # Streaming: the functions on lambda_http's streaming runtime, and only they, behind streaming integrations.
    helix_variables = ROOT / "infra/terraform/modules/helix/variables.tf"
    with helix_variables.open() as handle:
        tf_variables = {k: v for entry in hcl2.load(handle).get("variable", []) for k, v in entry.items()}
    read_timeout_s = tf_variables.get("api_origin_read_timeout", {}).get("default", [None])[0]
    streamed = {b for b, text in sources.items() if "run_with_streaming_response" in text}
    shared_sources = " ".join(f.read_text() for f in sorted((ROOT / "shared/src").rglob("*.rs")))
    streaming_apis: set[str] = set()
    for binary in sorted(MUST_STREAM - streamed):
        problems.append(f"functions/{binary} must answer through lambda_http::run_with_streaming_response")
    for binary, (logical_id, function) in sorted(by_binary.items()):
        props = function["Properties"]
        timeout_s = props.get("Timeout", globals_.get("Timeout", 3))
        for method, path, api_id, integration in rest.get(logical_id, []):
            where = f"{api_id}: {method} {path}"
            uri = integration.get("uri", {})
            uri = uri.get("Fn::Sub", "") if isinstance(uri, dict) else uri
            stream = integration.get("responseTransferMode") == "STREAM"
            if binary not in streamed:
                if stream:
                    problems.append(f"{where}: streams, but functions/{binary} does not answer through the streaming runtime")
                continue
            if not stream:
                problems.append(f"{where}: functions/{binary} streams: the integration needs responseTransferMode STREAM")
            if integration.get("type") != "aws_proxy" or integration.get("httpMethod") != "POST":
                problems.append(f"{where}: needs type aws_proxy and httpMethod POST (Lambda's invoke API)")
            match = STREAMING_URI.fullmatch(uri) if isinstance(uri, str) else None
            if not match or match.group(1) != logical_id:
                problems.append(
                    f"{where}: uri must be Lambda's InvokeWithResponseStream of {logical_id}'s alias "
                    f"(...:lambda:path/2021-11-15/functions/${{{logical_id}.Alias}}/response-streaming-invocations)"
                )
            timeout_ms = integration.get("timeoutInMillis", 29_000)
            if not timeout_s * 1000 <= timeout_ms <= REST_STREAM_MAX_TIMEOUT_MS:
                problems.append(
                    f"{where}: timeoutInMillis {timeout_ms} must be from the function's timeout ({timeout_s * 1000}) "
                    f"to {REST_STREAM_MAX_TIMEOUT_MS}: API Gateway must not hang up on a running turn"
                )
            streaming_apis.add(api_id)
        if binary in streamed:
            if any(e["Type"] == "HttpApi" for e in props.get("Events", {}).values()):
                problems.append(f"{logical_id}: functions/{binary} streams, but an HttpApi route (which cannot) reaches it")
            if not props.get("Environment", {}).get("Variables", {}).get("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"):
                problems.append(f"{logical_id}: set AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH: REST events carry the stage in the path")
            keep_alive = props.get("Environment", {}).get("Variables", {}).get(KEEP_ALIVE_SETTING)
            if KEEP_ALIVE_SETTING not in shared_sources + sources[binary]:
                problems.append(f"{logical_id}: {KEEP_ALIVE_SETTING} is read nowhere in shared/src or functions/{binary}")
            if not isinstance(keep_alive, str) or not re.fullmatch(r"\d+s", keep_alive):
                problems.append(f"{logical_id}: streams, so set {KEEP_ALIVE_SETTING} (seconds, e.g. 15s) next to its timeouts")
            elif not isinstance(read_timeout_s, (int, float)) or not duration_seconds(keep_alive) < min(read_timeout_s, REST_REGIONAL_IDLE_TIMEOUT_S):
                problems.append(
                    f"{logical_id}: {KEEP_ALIVE_SETTING} ({keep_alive}) must be shorter than CloudFront's origin read timeout "
                    f"(Terraform's api_origin_read_timeout, {read_timeout_s} s) and the REST API's idle timeout"
                )

    for api_id in sorted(streaming_apis):
        endpoint = resources[api_id]["Properties"].get("EndpointConfiguration", {})
        endpoint = endpoint.get("Type") if isinstance(endpoint, dict) else endpoint
        if endpoint != "REGIONAL":
            problems.append(f"{api_id}: EndpointConfiguration must be REGIONAL (an edge-optimised stream idles out after 30 s)")

    # lambda_http parses only the payload formats it is built for.
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    dependency = workspace.get("workspace", {}).get("dependencies", {}).get("lambda_http", {})
    dependency = dependency if isinstance(dependency, dict) else {}
    features = set(dependency.get("features", [])) | (LAMBDA_HTTP_DEFAULT_FEATURES if dependency.get("default-features", True) else set())
    for kind, feature in (("http", "apigw_http"), ("rest", "apigw_rest")):
        if kind in api_of_route.values() and feature not in features:
            problems.append(f"Cargo.toml: lambda_http needs the feature {feature}: the template routes requests through that API")

    # Embedding: which functions embed (request time) or size the vectors (migrations), read from the code.
    # startup::init(Services { memory: true, .. }) checks the stored vectors against the embedding model.
    embedders = {b for b, text in sources.items() if re.search(r"\bmemory:\s*true", text)}
    sizers = {b for b, text in sources.items() if "schema::prepare(" in text}
    if not {"memory", "turns"} <= embedders or "db-migrate" not in sizers:
        problems.append(f"expected memory and turns to embed and db-migrate to size the vectors; found {sorted(embedders)} / {sorted(sizers)}")
    parameter = template["Parameters"].get("EmbeddingProvider")
    config = (ROOT / "shared/src/embedding/settings.rs").read_text()
    # The Lambdas are built without the in-process embedder (cargo feature local-embeddings): never "local".
    remote = set(re.findall(r'Some\("(\w+)"\)\s*=>\s*EmbeddingProvider::', config)) - {"local"}
    if not parameter or set(parameter.get("AllowedValues", [])) != remote or parameter.get("Default") not in remote:
        problems.append(f"parameter EmbeddingProvider must allow exactly {sorted(remote)} and default to one of them")
    for binary in sorted(embedders | sizers):
        logical_id, function = by_binary[binary]
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if variables.get("HELIX_EMBEDDING_PROVIDER") != {"Ref": "EmbeddingProvider"}:
            problems.append(f"{logical_id}: HELIX_EMBEDDING_PROVIDER must be !Ref EmbeddingProvider")
    bedrock_conditions = {
        name
        for name, condition in template.get("Conditions", {}).items()
        if isinstance(condition, dict)
        and sorted(map(json.dumps, condition.get("Fn::Equals", []))) == sorted([json.dumps({"Ref": "EmbeddingProvider"}), json.dumps("bedrock")])
    }
    prices = json.loads((ROOT / "shared/pricing/prices.json").read_text())
    embedding_arns = {
        f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{m['model']}"
        for m in prices.get("embeddings", [])
        if m["provider"] == "bedrock"
    }
    for binary, (logical_id, function) in sorted(by_binary.items()):
        role_ref = function["Properties"].get("Role", {}).get("Fn::GetAtt")
        role_id = role_ref.split(".")[0] if isinstance(role_ref, str) else (role_ref or [None])[0]
        granted: dict[str, set[str]] = {}
        for conditions, statement in conditional_statements(resources.get(role_id, {"Properties": {}})):
            if "bedrock:InvokeModel" not in as_list(statement.get("Action", [])):
                continue
            for resource in as_list(statement.get("Resource", [])):
                arn = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
                if arn in embedding_arns:
                    granted[arn] = conditions
        if binary in embedders:
            for arn in sorted(embedding_arns):
                if arn not in granted:
                    problems.append(f"{role_id}: {logical_id} embeds but may not invoke {arn}")
                elif not granted[arn] & bedrock_conditions:
                    problems.append(f"{role_id}: grant {arn} only when EmbeddingProvider is bedrock (Fn::If)")
        elif granted:
            problems.append(f"{role_id}: {logical_id} does not embed but may invoke {sorted(granted)}")

    # Functions that call providers must outlive the provider calls they make in a row and the settling after.
    for binary in sorted(embedders):
        logical_id, function = by_binary[binary]
        props = function["Properties"]
        deadline = duration_seconds(props.get("Environment", {}).get("Variables", {}).get("HELIX_ENGINE_DEADLINE", "120s"))
        calls = SEQUENTIAL_CALLS.get(binary, 1)
        needed = calls * deadline + SETTLE_MARGIN_S
        timeout_s = props.get("Timeout", globals_.get("Timeout", 3))
        if timeout_s <= needed:
            problems.append(
                f"{logical_id}: Timeout {timeout_s}s must exceed {calls} x HELIX_ENGINE_DEADLINE ({deadline}s) "
                f"+ {SETTLE_MARGIN_S}s to settle = {needed}s"
            )

    # IAM for Bedrock follows the price table.
    priced = sorted(m["model"] for m in prices["models"] if m["provider"] == "bedrock")
    allowed = sorted(m.strip() for m in template["Parameters"]["BedrockModelIds"]["Default"].split(","))
    if priced != allowed:
        problems.append(f"BedrockModelIds default {allowed} differs from prices.json's bedrock models {priced}")

    # Terraform: a log group per function, and a value for every parameter SAM needs.
    helix = ROOT / "infra/terraform/modules/helix"
    with (helix / "main.tf").open() as handle:
        locals_ = {k: v for entry in hcl2.load(handle).get("locals", []) for k, v in entry.items()}
    log_groups = set(locals_.get("function_names", [[]])[0])
    if log_groups != set(by_binary):
        problems.append(f"Terraform's function_names {sorted(log_groups)} differ from the template's functions")
    behind_api = {
        b
        for b, (logical_id, f) in by_binary.items()
        if logical_id in rest or any(e["Type"] == "HttpApi" for e in f["Properties"].get("Events", {}).values())
    }
    watched = set(locals_.get("api_function_names", [[]])[0])
    if watched != behind_api:
        problems.append(f"Terraform's api_function_names {sorted(watched)} differ from the functions behind the API {sorted(behind_api)}")
    # CloudFront: the first matching behaviour (the turns API's paths, then the HTTP API's) is the route's API.
    with (ROOT / "infra/terraform/modules/web/main.tf").open() as handle:
        web_locals = {k: v for entry in hcl2.load(handle).get("locals", []) for k, v in entry.items()}
    behaviours = [(pattern, "rest") for pattern in web_locals.get("turns_api_paths", [[]])[0]]
    behaviours += [(pattern, "http") for pattern in web_locals.get("http_api_paths", [[]])[0]]
    for (method, path), api in sorted(api_of_route.items()):
        reached = next((target for pattern, target in behaviours if fnmatch.fnmatchcase(path, pattern)), None)
        if reached != api:
            problems.append(
                f"{method} {path} is served by the {api.upper()} API, but CloudFront sends it to "
                f"{reached.upper() + ' API' if reached else 'the web bucket'} (modules/web: turns_api_paths, http_api_paths)"
            )
    origins_output = template.get("Outputs", {}).get("ApiOrigins", {}).get("Value", {})
    origins_output = origins_output.get("Fn::Sub", "") if isinstance(origins_output, dict) else ""
    output_fields = set(re.findall(r'(\w+)\s*=\s*"', origins_output))
    tf_fields = set(re.findall(r"'(\w+)'", str(tf_variables.get("api_origins", {}).get("type", [""])[0])))
    if not output_fields or output_fields != tf_fields:
        problems.append(f"output ApiOrigins sets {sorted(output_fields)}, Terraform's api_origins takes {sorted(tf_fields)}")

    outputs_text = (helix / "outputs.tf").read_text()
    block = outputs_text.split('output "sam_parameter_overrides"', 1)[-1].split("\noutput ", 1)[0]
    given = set(re.findall(r'"([A-Za-z0-9]+)=', block))
    parameters = template["Parameters"]
    for name in sorted(n for n, p in parameters.items() if "Default" not in p and n not in given):
        problems.append(f"parameter {name} has no default and Terraform's sam_parameter_overrides does not set it")
    for name in sorted(given - set(parameters)):
        problems.append(f"Terraform's sam_parameter_overrides sets {name}, which the template does not declare")

    streamed_routes = sum(len(rest.get(by_binary[b][0], [])) for b in streamed if b in by_binary)
    for problem in problems:
        print(f"  {problem}")
    status = "FAILED" if problems else "ok"
    print(
        f"sam contract: {status} ({len(by_binary)} functions, {len(deployed_routes)} routes matching their routers "
        f"and docs/openapi.json, {streamed_routes} of them streamed{f', {len(problems)} problems' if problems else ''})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
