# Counting for `npm test` (test/run-all.sh), sourced; its host test is
# test/unit/run-all-counts.test.ts. Every suite is recorded from what THIS run produced;
# a suite that crashed, timed out or reported nothing is a problem named in a line of
# its own, and any problem fails the run.
#   counts_init DIR                      state lives in DIR (a fresh directory)
#   counts_json SUITE FILE RC            counts from the mocha reporter's JSON file
#   counts_line SUITE tests|checks LOG RC  counts from the last "N passed, N failed" line
#                                        (", N skipped" may follow)
#   counts_lab SUITE json|line RUNNER... a lab runner (test/lab/run.sh ...); the counts come
#                                        from the run directory it says it created
#   counts_total                         the summary; the last line is
#                                        "total: N passed, N failed, N skipped"
# "checks" are assertions (the ODX handler's host test): reported on their own line, not
# added to the test total, but a failure fails the run all the same.

counts_init() { COUNTS_DIR=$1; mkdir -p "$COUNTS_DIR/tests" "$COUNTS_DIR/checks"; : > "$COUNTS_DIR/problems"; }

counts_problem() { echo "$1: $2"; echo "$1: $2" >> "$COUNTS_DIR/problems"; }

# counts_record SUITE KIND RC PASSED FAILED SKIPPED [NOT_RUN]
counts_record() {
  local suite=$1 kind=$2 rc=$3 p=$4 f=$5 s=$6 nr=${7:-0}
  echo "$p $f $s" > "$COUNTS_DIR/$kind/$suite"
  [ "$f" = 0 ] || counts_problem "$suite" "$f failed"
  [ "$nr" = 0 ] || counts_problem "$suite" "$nr tests did not run"
  [ $((p + f + s)) != 0 ] || counts_problem "$suite" "ran nothing (0 passed, 0 failed)"
  [ "$rc" = 0 ] || [ "$f" != 0 ] || counts_problem "$suite" "exited $rc with no failure counted"
  return 0
}

counts_json() {
  local suite=$1 file=$2 rc=$3 c
  c=$(node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = ["passed", "failed", "skipped", "notRun"].map((k) => c[k] ?? 0);
    if (!v.every((x) => Number.isInteger(x) && x >= 0)) process.exit(1);
    console.log(v.join(" "));' "$file" 2>/dev/null) ||
    { counts_problem "$suite" "wrote no counts (exit $rc): it crashed or did not run"; return 0; }
  counts_record "$suite" tests "$rc" $c
  # Name each failure in the summary too: a CI log is often read from its tail.
  node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const f of Array.isArray(c.failures) ? c.failures : []) console.log(String(f));' "$file" 2>/dev/null |
    while IFS= read -r f; do counts_problem "$suite" "failed: $f"; done
}

counts_line() {
  local suite=$1 kind=$2 log=$3 rc=$4 line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" 2>/dev/null | tail -n1)
  [ -n "$line" ] || { counts_problem "$suite" "reported no counts (exit $rc): it crashed or did not finish"; return 0; }
  set -- ${line//,/}
  counts_record "$suite" "$kind" "$rc" "$1" "$3" "${5:-0}"
}

counts_lab() {
  local suite=$1 how=$2 rc run
  shift 2
  rm -f "$COUNTS_DIR/$suite.run"
  ODXCP_LAB_RUN_FILE="$COUNTS_DIR/$suite.run" "$@"
  rc=$?
  run=$(cat "$COUNTS_DIR/$suite.run" 2>/dev/null)
  if [ -z "$run" ] || [ ! -d "$run" ]; then
    counts_problem "$suite" "the lab runner created no run directory (exit $rc)"
  elif [ "$how" = json ]; then
    counts_json "$suite" "$run/counts.json" "$rc"
  else
    counts_line "$suite" tests "$run/guest.log" "$rc"
  fi
}

counts_total() {
  local f suite p fl s tp=0 tf=0 ts=0
  for f in "$COUNTS_DIR"/checks/*; do
    [ -e "$f" ] || continue
    read -r p fl s < "$f"
    echo "$(basename "$f"): $p checks passed, $fl failed (assertions, not in the test total)"
  done
  for f in "$COUNTS_DIR"/tests/*; do
    [ -e "$f" ] || continue
    read -r p fl s < "$f"
    tp=$((tp + p)); tf=$((tf + fl)); ts=$((ts + s))
  done
  if [ -s "$COUNTS_DIR/problems" ]; then
    echo "FAILED:"
    sed 's/^/  /' "$COUNTS_DIR/problems"
  fi
  echo "total: $tp passed, $tf failed, $ts skipped"
  [ ! -s "$COUNTS_DIR/problems" ]
}
