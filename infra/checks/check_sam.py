#!/usr/bin/env python3
"""The SAM template against the code it deploys and the Terraform that feeds it, offline.

  - every Lambda crate in functions/ (a src/main.rs; local-gateway is not deployed) is one function built by
    cargo-lambda (Metadata BuildMethod rust-cargolambda, Binary = crate name) on provided.al2023 / arm64,
    and the Makefile's FUNCTIONS list names the same set;
  - each function's HTTP routes are exactly the routes its router declares (functions/<name>/src/lib.rs),
    and together they are docs/openapi.json's paths except the local-only /healthz;
  - the functions that embed (their main checks memory's schema at cold start: memory, turns) and the one that
    sizes memory's vectors (db-migrate) set HELIX_EMBEDDING_PROVIDER from the EmbeddingProvider parameter,
    which offers only the providers that need no in-process model; the embedders' roles, and only theirs, may
    invoke the bedrock embedding models of prices.json (in the stack's region) when that provider is bedrock;
  - the functions that call providers (turns, memory) outlive their HELIX_ENGINE_DEADLINE;
  - BedrockModelIds defaults to the bedrock models of shared/pricing/prices.json;
  - Terraform creates a log group for each function and a latency alarm for each one behind the API, and
    its sam_parameter_overrides output sets every
    template parameter without a default (and nothing the template does not declare);
  - every checkov skip in the template carries a reason.
Prints the problems (if any), then one summary line; exit 1 on a problem.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra/sam/template.yaml"
NOT_DEPLOYED = {"local-gateway"}
LOCAL_ONLY_PATHS = {"/healthz"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


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
    deployed_routes: set[tuple[str, str]] = set()
    for binary, (logical_id, function) in sorted(by_binary.items()):
        events = function["Properties"].get("Events", {})
        routes = {
            (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
            for e in events.values()
            if e["Type"] == "HttpApi"
        }
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

    # Embedding: which functions embed (request time) or size the vectors (migrations), read from the code.
    sources = {binary: crate_sources(ROOT / "functions" / binary) for binary in by_binary}
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

    # Functions that call providers must outlive the provider deadline they enforce.
    for binary in sorted(embedders):
        logical_id, function = by_binary[binary]
        props = function["Properties"]
        deadline = duration_seconds(props.get("Environment", {}).get("Variables", {}).get("HELIX_ENGINE_DEADLINE", "120s"))
        if props.get("Timeout", globals_.get("Timeout", 3)) <= deadline:
            problems.append(f"{logical_id}: Timeout must exceed HELIX_ENGINE_DEADLINE ({deadline}s)")

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
    behind_api = {b for b, (_, f) in by_binary.items() if any(e["Type"] == "HttpApi" for e in f["Properties"].get("Events", {}).values())}
    watched = set(locals_.get("api_function_names", [[]])[0])
    if watched != behind_api:
        problems.append(f"Terraform's api_function_names {sorted(watched)} differ from the functions behind the API {sorted(behind_api)}")
    outputs_text = (helix / "outputs.tf").read_text()
    block = outputs_text.split('output "sam_parameter_overrides"', 1)[-1].split("\noutput ", 1)[0]
    given = set(re.findall(r'"([A-Za-z0-9]+)=', block))
    parameters = template["Parameters"]
    for name in sorted(n for n, p in parameters.items() if "Default" not in p and n not in given):
        problems.append(f"parameter {name} has no default and Terraform's sam_parameter_overrides does not set it")
    for name in sorted(given - set(parameters)):
        problems.append(f"Terraform's sam_parameter_overrides sets {name}, which the template does not declare")

    for problem in problems:
        print(f"  {problem}")
    status = "FAILED" if problems else "ok"
    print(
        f"sam contract: {status} ({len(by_binary)} functions, {len(deployed_routes)} routes matching their routers "
        f"and docs/openapi.json{f', {len(problems)} problems' if problems else ''})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
