#!/usr/bin/env python3
"""Offline checks of infra/terraform that `terraform validate` would otherwise need providers for.

Parses every .tf and .tfvars file strictly (python-hcl2), then, per module directory:
  - every local module `source` resolves to a directory of .tf files, and every module under modules/ is used;
  - module calls pass only variables the child declares, and every child variable without a default;
  - every var., local., module.<name>[.<output>], data.<type>.<name>, ephemeral.<type>.<name> and
    <resource type>.<name> reference is declared; every declared variable is used;
  - ephemeral values (secrets) reach resources only through write-only `*_wo` arguments, other modules only
    through `ephemeral = true` variables, and outputs only when marked ephemeral: nothing secret in state;
  - every `checkov:skip=` carries a reason.
Usage: check_terraform.py [infra/terraform]. Prints the problems (if any), then one summary line; exit 1 on a problem.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
VAR_REF = re.compile(rf"(?<![\w.])var\.({NAME})")
LOCAL_REF = re.compile(rf"(?<![\w.])local\.({NAME})")
MODULE_REF = re.compile(rf"(?<![\w.])module\.({NAME})(?:\.({NAME}))?")
DATA_REF = re.compile(rf"(?<![\w.])data\.({NAME})\.({NAME})")
EPHEMERAL_REF = re.compile(rf"(?<![\w.])ephemeral\.({NAME})\.({NAME})")
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Za-z0-9_]+)(?::(.*))?")
MIN_REASON_CHARS = 15


@dataclass
class Module:
    path: Path
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    module_calls: dict[str, dict] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    ephemeral_resources: set[tuple[str, str]] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)
    provider_configs: list[tuple[str, dict]] = field(default_factory=list)

    def __str__(self) -> str:
        return str(self.path)


def first(value):
    """python-hcl2 wraps attribute values in one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def strings(value):
    """Every expression string inside a parsed value (plain literals without ${ hold no reference)."""
    if isinstance(value, str):
        if "${" in value:
            yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            if not key.startswith("__"):
                yield from strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings(inner)


def blocks(parsed: dict, kind: str):
    for entry in parsed.get(kind, []):
        yield from entry.items()


def load(directory: Path, problems: list[str]) -> Module:
    module = Module(directory)
    for file in sorted(directory.glob("*.tf")):
        try:
            with file.open() as handle:
                parsed = hcl2.load(handle)
        except Exception as error:  # python-hcl2 raises lark errors of several types
            problems.append(f"{file}: does not parse: {error}")
            continue
        for name, body in blocks(parsed, "variable"):
            module.variables[name] = body
        for entry in parsed.get("locals", []):
            for name, value in entry.items():
                if not name.startswith("__"):
                    module.locals[name] = value
        for name, body in blocks(parsed, "output"):
            module.outputs[name] = body
        for name, body in blocks(parsed, "module"):
            module.module_calls[name] = body
        for rtype, named in blocks(parsed, "resource"):
            for name, body in named.items():
                module.resources[(rtype, name)] = body
        for dtype, named in blocks(parsed, "data"):
            for name, body in named.items():
                module.data[(dtype, name)] = body
        for etype, named in blocks(parsed, "ephemeral"):
            for name in named:
                module.ephemeral_resources.add((etype, name))
        module.provider_configs.extend(blocks(parsed, "provider"))
        for terraform in parsed.get("terraform", []):
            for requirements in terraform.get("required_providers", []):
                module.providers.update(k for k in requirements if not k.startswith("__"))
    return module


def resource_refs(text: str, providers: set[str]):
    pattern = re.compile(rf"(?<![\w.])((?:{'|'.join(map(re.escape, providers))})_[a-z0-9_]+)\.({NAME})")
    return pattern.findall(text) if providers else []


def check_skips(root: Path, problems: list[str]) -> int:
    count = 0
    for file in sorted(root.rglob("*.tf")):
        for number, line in enumerate(file.read_text().splitlines(), 1):
            for check_id, reason in SKIP_COMMENT.findall(line):
                count += 1
                if len((reason or "").strip()) < MIN_REASON_CHARS:
                    problems.append(f"{file}:{number}: checkov:skip={check_id} has no reason after ':'")
    return count


def check_module(module: Module, modules: dict[Path, Module], problems: list[str]) -> None:
    where = module.path
    is_ephemeral_var = {n for n, b in module.variables.items() if first(b.get("ephemeral", [False])) is True}
    used_vars: set[str] = set()

    # Locals derived from an ephemeral value are ephemeral too (to a fixed point).
    ephemeral_locals: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, value in module.locals.items():
            if name not in ephemeral_locals and any(is_ephemeral(t, is_ephemeral_var, ephemeral_locals) for t in strings(value)):
                ephemeral_locals.add(name)
                changed = True

    def check_refs(text: str, context: str) -> None:
        for name in VAR_REF.findall(text):
            used_vars.add(name)
            if name not in module.variables:
                problems.append(f"{where}: {context}: var.{name} is not declared")
        for name in LOCAL_REF.findall(text):
            if name not in module.locals:
                problems.append(f"{where}: {context}: local.{name} is not declared")
        for name, output in MODULE_REF.findall(text):
            if name not in module.module_calls:
                problems.append(f"{where}: {context}: module.{name} is not declared")
                continue
            child = child_of(module, name, modules)
            if output and child is not None and output not in child.outputs:
                problems.append(f"{where}: {context}: module.{name} has no output {output!r}")
        for dtype, name in DATA_REF.findall(text):
            if (dtype, name) not in module.data:
                problems.append(f"{where}: {context}: data.{dtype}.{name} is not declared")
        for etype, name in EPHEMERAL_REF.findall(text):
            if (etype, name) not in module.ephemeral_resources:
                problems.append(f"{where}: {context}: ephemeral.{etype}.{name} is not declared")
        for rtype, name in resource_refs(text, module.providers):
            if (rtype, name) not in module.resources:
                problems.append(f"{where}: {context}: {rtype}.{name} is not declared")

    def check_value(value, context: str) -> None:
        for text in strings(value):
            check_refs(text, context)

    for name, body in module.variables.items():
        check_value(body.get("validation", []), f"variable {name}")
    for name, value in module.locals.items():
        check_value(value, f"local {name}")
    for name, body in module.provider_configs:
        check_value(body, f"provider {name}")
    for (dtype, name), body in module.data.items():
        check_value(body, f"data {dtype}.{name}")
    for (rtype, name), body in module.resources.items():
        context = f"resource {rtype}.{name}"
        check_value(body, context)
        for argument, value in body.items():
            if argument.startswith("__") or argument.endswith("_wo"):
                continue
            if any(is_ephemeral(t, is_ephemeral_var, ephemeral_locals) for t in strings(value)):
                problems.append(
                    f"{where}: {context}: {argument} takes an ephemeral (secret) value, which would be stored "
                    "in state: use the write-only *_wo argument"
                )
    for name, body in module.outputs.items():
        context = f"output {name}"
        check_value(body, context)
        if first(body.get("ephemeral", [False])) is not True and any(
            is_ephemeral(t, is_ephemeral_var, ephemeral_locals) for t in strings(body.get("value", []))
        ):
            problems.append(f"{where}: {context} exposes an ephemeral (secret) value")

    for name, body in module.module_calls.items():
        context = f"module {name}"
        check_value({k: v for k, v in body.items() if k != "source"}, context)
        child = child_of(module, name, modules)
        source = first(body.get("source"))
        if child is None:
            problems.append(f"{where}: {context}: source {source!r} is not a directory of .tf files")
            continue
        arguments = {k for k in body if not k.startswith("__")} - META_ARGUMENTS
        for argument in sorted(arguments - set(child.variables)):
            problems.append(f"{where}: {context}: {child.path} declares no variable {argument!r}")
        for variable, declaration in sorted(child.variables.items()):
            if "default" not in declaration and variable not in arguments:
                problems.append(f"{where}: {context}: required variable {variable!r} of {child.path} is not set")
        child_ephemeral = {n for n, b in child.variables.items() if first(b.get("ephemeral", [False])) is True}
        for argument in sorted(arguments & set(child.variables)):
            passes_secret = any(is_ephemeral(t, is_ephemeral_var, ephemeral_locals) for t in strings(body[argument]))
            if passes_secret and argument not in child_ephemeral:
                problems.append(
                    f"{where}: {context}: passes an ephemeral value to {argument!r}, which {child.path} "
                    "does not declare ephemeral = true"
                )

    for name in sorted(set(module.variables) - used_vars):
        problems.append(f"{where}: variable {name!r} is declared but never used")


def is_ephemeral(text: str, ephemeral_vars: set[str], ephemeral_locals: set[str]) -> bool:
    return (
        any(name in ephemeral_vars for name in VAR_REF.findall(text))
        or any(name in ephemeral_locals for name in LOCAL_REF.findall(text))
        or bool(EPHEMERAL_REF.search(text))
    )


def child_of(module: Module, call: str, modules: dict[Path, Module]) -> Module | None:
    source = first(module.module_calls[call].get("source"))
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None
    return modules.get((module.path / source).resolve())


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "infra/terraform")
    problems: list[str] = []
    directories = sorted({file.parent.resolve() for file in root.rglob("*.tf")})
    modules = {directory: load(directory, problems) for directory in directories}
    tfvars = sorted(root.rglob("*.tfvars"))
    for file in tfvars:
        try:
            with file.open() as handle:
                hcl2.load(handle)
        except Exception as error:
            problems.append(f"{file}: does not parse: {error}")

    for module in modules.values():
        check_module(module, modules, problems)

    called = {
        child.path
        for module in modules.values()
        for name in module.module_calls
        if (child := child_of(module, name, modules)) is not None
    }
    for directory in sorted((root / "modules").resolve().iterdir()) if (root / "modules").is_dir() else []:
        if directory in modules and directory not in called:
            problems.append(f"{directory}: module is not used by any environment")

    skips = check_skips(root, problems)
    for problem in problems:
        print(f"  {problem}")
    files = sum(1 for _ in root.rglob("*.tf")) + len(tfvars)
    status = "FAILED" if problems else "ok"
    print(
        f"terraform references: {status} ({len(modules)} modules, {files} files parsed, "
        f"{skips} checkov skips with reasons{f', {len(problems)} problems' if problems else ''})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
