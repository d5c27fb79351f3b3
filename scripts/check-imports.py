#!/usr/bin/env python3
"""Fails when a target imports a module it does not declare as a dependency in Package.swift.

SwiftPM resolves transitively reachable modules, so an undeclared import builds today and breaks
when a dependency drops the module it happened to bring along.
"""
import json
import os
import re
import subprocess
import sys

# Modules every target may import: the toolchain's own.
SYSTEM = {"Foundation", "FoundationXML", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin",
          "Synchronization", "Testing", "XCTest", "Dispatch", "_Concurrency", "Observation"}
# Products whose module has another name.
PRODUCT_MODULES = {"CryptoExtras": {"CryptoExtras", "_CryptoExtras"}}
IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*(?:public\s+|package\s+|internal\s+|private\s+|fileprivate\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][\w]*)", re.M)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                    capture_output=True, text=True).stdout)
failures = []
for target in package["targets"]:
    if target["type"] not in ("regular", "executable", "test"):
        continue
    allowed = set(SYSTEM) | {target["name"]}
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        name = value[0]
        allowed |= PRODUCT_MODULES.get(name, {name})
    default = {"test": "Tests"}.get(target["type"], "Sources")
    path = os.path.join(root, target.get("path") or os.path.join(default, target["name"]))
    for folder, _, files in os.walk(path):
        for file in files:
            if not file.endswith(".swift"):
                continue
            text = open(os.path.join(folder, file), encoding="utf-8").read()
            for module in IMPORT.findall(text):
                if module not in allowed:
                    failures.append(f"{os.path.relpath(os.path.join(folder, file), root)}: imports {module}, "
                                    f"which target {target['name']} does not declare in Package.swift")
for failure in sorted(set(failures)):
    print(failure)
sys.exit(1 if failures else 0)
