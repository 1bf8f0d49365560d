"""Hunt with Sigma rules over a recording: every match with its rule's level,
title, author and link (the Detection Rule License asks that matches keep the
author), then a count per rule.

    python examples/sigma_hunt.py [RULES] [FILE]

RULES is a rule file or folder, such as SigmaHQ's ``rules/windows``; FILE an .etl
recording. Without them it runs one inline rule over pyetwkit's bundled sample,
where it finds the sample app starting as a server.
"""

from __future__ import annotations

import sys
from collections import Counter

import pyetwkit
from pyetwkit import sigma

INLINE_RULE = r"""
title: Sample app serving on a port
id: 6f2e4b1a-5c3d-4e7f-8a9b-0c1d2e3f4a5b
author: pyetwkit examples
level: low
references: [https://github.com/pyetwkit/pyetwkit]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\sampleapp.exe'
        CommandLine|contains|all: ['--serve', '--port']
    condition: selection
"""


def main() -> int:
    if len(sys.argv) > 2:
        rules = sigma.RuleSet.load(sys.argv[1])
        path = sys.argv[2]
    else:
        rules = sigma.RuleSet.from_yaml(INLINE_RULE)
        path = pyetwkit.sample_etl_path()
    for source, reason in rules.rejected:
        print(f"rejected {source}: {reason}", file=sys.stderr)
    per_rule: Counter[str] = Counter()
    # prescan_processes: parents are known even where the rundown comes last.
    with pyetwkit.open_etl(path, rules=rules, prescan_processes=True) as etl:
        for event in etl:
            for m in event.matches:
                per_rule[m.title] += 1
                print(f"{event.timestamp} [{m.level}] {m.title} by {m.author} ({m.rule.link})")
                for name, value in m.fields.items():
                    print(f"    {name}: {value}")
    print(f"{sum(per_rule.values())} matches of {len(rules)} rules")
    for title, n in per_rule.most_common():
        print(f"{n:6}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
