"""Prints the binary's functions that ran in the callgrind profiles given, one mangled name a
line, by the instructions they ran themselves, most first: link_order.py BINARY PROFILE..."""

import re
import subprocess
import sys
from collections import Counter

binary, profiles = sys.argv[1], sys.argv[2:]
functions = set()
listing = subprocess.run(
    ["nm", "--defined-only", binary], capture_output=True, text=True, check=True
).stdout
for line in listing.splitlines():
    fields = line.split()
    if len(fields) == 3 and fields[1] in "tT":
        functions.add(fields[2])

DEFINITION = re.compile(r"(c?fn)=\((\d+)\)(?: (.*))?")
instructions = Counter()
for profile in profiles:
    names, current, call_cost_next = {}, None, False
    for line in open(profile):
        definition = DEFINITION.match(line)
        if definition:
            kind, number, name = definition.groups()
            if name:
                names[number] = name.strip()
            if kind == "fn":
                current = names[number]
                instructions[current] += 0
            continue
        if line.startswith("calls="):
            # The cost line after it is the call's, not the function's own.
            call_cost_next = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            fields = line.split()
            if not call_cost_next and current and len(fields) >= 2:
                instructions[current] += int(fields[1])
            call_cost_next = False

ran = sorted((name for name in instructions if name in functions), key=lambda n: -instructions[n])
print(f"link_order: {len(ran)} functions ran", file=sys.stderr)
sys.stdout.write("".join(name + "\n" for name in ran))
