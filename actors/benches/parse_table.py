#!/usr/bin/env python3
"""Prints the table (actors/src/connection/README.md) of `cargo bench --bench parse` from criterion's saved estimates.

Usage: cargo bench --bench parse && python3 actors/benches/parse_table.py
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[2] / "target" / "criterion"
rows = []
for group in sorted(root.iterdir()) if root.is_dir() else []:
    results = {}
    for estimates in group.glob("*/*/new/estimates.json"):
        parser, size = estimates.parts[-4], estimates.parts[-3]
        mean = json.loads(estimates.read_text())["mean"]["point_estimate"]  # ns per frame
        results[parser] = (mean, size)
    if {"simd_json", "serde_json"} <= results.keys():
        simd, size = results["simd_json"]
        serde, _ = results["serde_json"]
        rows.append((group.name, size, 1e9 / simd, 1e9 / serde, serde / simd))
if not rows:
    sys.exit("no parse benchmark results under target/criterion: run cargo bench first")
print("| frame kind | bytes | simd-json frames/s | serde_json frames/s | simd-json speed-up |")
print("|---|---:|---:|---:|---:|")
for name, size, simd, serde, ratio in rows:
    print(f"| {name} | {size} | {simd:,.0f} | {serde:,.0f} | {ratio:.2f}x |")
