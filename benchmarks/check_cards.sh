#!/usr/bin/env bash
# Re-evaluate every pretrained entry on its full test split and compare with its card (1% tolerance).
# Usage: bash benchmarks/check_cards.sh [--data-dir DIR]   (about a minute per entry on 2 CPU cores)
set -uo pipefail
status=0
for name in $(aezoo list --pretrained 2>/dev/null); do
  echo "== $name"
  aezoo evaluate "$name" --check-card --output "runs/eval/$name.json" "$@" 2>/dev/null | grep -E "rel |reproduced|FAIL" || status=1
done
exit $status
