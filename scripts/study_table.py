"""Markdown tables of a `segpilot study budget` run (for the README and the model card).

Cells: EM@1 (%); a difference from the reference SeGPruner at the same budget whose paired
bootstrap 95% interval excludes 0 is marked with its sign and interval, e.g. `41.2 (-6.3 [-9.1, -3.4])`.

    python scripts/study_table.py runs/study/study_budget.json
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    table = json.loads(open(sys.argv[1]).read())
    budgets = table["budgets"]
    print(f"{table['questions']} questions; reference {table['reference']}; * = significant difference\n")
    print("| method | " + " | ".join(f"{100 * b:g}%" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    for method in dict.fromkeys(r["method"] for r in table["rows"]):
        rows = {r["budget"]: r for r in table["rows"] if r["method"] == method}
        cells = []
        for b in budgets:
            r = rows[b]
            d = r.get("em_minus_segpruner")
            cell = f"{r['EM@1']:.1f}"
            if d and d["significant"] and method != table["reference"]:
                cell += f" ({d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}])*"
            cells.append(cell)
        print(f"| {method} | " + " | ".join(cells) + " |")
    if table["sweep"]:
        print("\n| mode | budget | lam | r | EM@1 | minus reference [95% CI] |\n|---|---|---|---|---|---|")
        for r in sorted(table["sweep"], key=lambda r: (r["budget"], -r["EM@1"])):
            d = r.get("em_minus_segpruner")
            diff = "-" if d is None else (f"{d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]"
                                          + ("*" if d["significant"] else ""))  # fmt: skip
            print(f"| {r['mode']} | {100 * r['budget']:g}% | {r['lam']:g} | {r['importance_ratio']:g} | "
                  f"{r['EM@1']:.1f} | {diff} |")  # fmt: skip


if __name__ == "__main__":
    main()
