"""The WebAssembly a browser loads, piece by piece, and what each page's first load costs.

`cargo leptos build --release --split` writes the main module (the app shell, the keys, sign-in
and registration pages) and, per lazy route (Bots, Activity, Account), a split module and the
shared chunks it needs (listed in __wasm_split_manifest.json): a page opened first loads the main
module and its route's pieces. Sizes are raw, gzip -9 and brotli q11 (what a server compressing
at its best sends). Prints Markdown.
"""

import gzip
import json
import pathlib
import sys

import brotli

pkg = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg")
main = pkg / "keywarden.wasm"


def sizes(path):
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, 9)), len(brotli.compress(data, quality=11))


pieces = {p.stem: sizes(p) for p in sorted(pkg.glob("*.wasm"))}
print("| WASM piece | raw | gzip -9 | brotli q11 |")
print("|---|---|---|---|")
for name, (raw, gz, br) in pieces.items():
    print(f"| {name} | {raw:,} | {gz:,} | {br:,} |")

manifest_path = pkg / "__wasm_split_manifest.json"
manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
first_loads = {"/, /login, /register, /key/delete": ["keywarden"]}
for split, needs in manifest.items():
    route = split.lstrip("_").split("_route_view")[0]
    first_loads[f"/{route}"] = ["keywarden", *needs]
print()
print("| page opened first | pieces | brotli q11 total |")
print("|---|---|---|")
for page, needs in first_loads.items():
    total = sum(pieces[n][2] for n in needs)
    print(f"| {page} | {len(needs)} | {total:,} |")
