#!/usr/bin/env bash
# Run the official MCP conformance suite against a running server, on both protocol wires.
#
#   scripts/conformance.sh URL          URL is the MCP endpoint, e.g. http://127.0.0.1:8000/mcp
#
# The server must have the conformance fixture on (`prynai-mcp serve --conformance`). Runs the two frozen
# requirement sets, 2025-11-25 (legacy, session-based wire) and 2026-07-28 (modern, stateless wire), prints one
# summary line per set, and exits non-zero if any scored scenario fails. Scenarios the sets mark not scored
# (the tasks extension, pending, added after release) are run and reported but do not fail the run.
#
# The suite needs Node >= 22. The first run installs Node 22 (from the npm package node-linux-<arch>, unless
# the machine's node is already new enough) and the pinned suite under ${PRYNAI_CACHE_DIR:-~/.cache/prynai-mcp};
# later runs reuse them and print nothing but the results. Environment:
#   PRYNAI_CACHE_DIR               where the tools are cached (outside the repository)
#   PRYNAI_CONFORMANCE_TIMEOUT_MS  per-scenario timeout (default 30000)
#   PRYNAI_CONFORMANCE_VERBOSE=1   print the suite's full output even when every scored scenario passes
set -euo pipefail

readonly NODE_MAJOR=22
readonly SUITE_PACKAGE=@modelcontextprotocol/conformance
readonly SUITE_VERSION=0.2.0-alpha.12
readonly REQUIREMENT_SETS=(2025-11-25 2026-07-28)

usage() {
    echo "usage: $0 URL   (URL of the MCP endpoint, e.g. http://127.0.0.1:8000/mcp)" >&2
    exit 2
}
[[ $# -eq 1 && "$1" =~ ^https?:// ]] || usage
readonly URL=$1

cache_dir=${PRYNAI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prynai-mcp}
mkdir -p "$cache_dir"
cache_dir=$(cd "$cache_dir" && pwd)
readonly node_dir=$cache_dir/node$NODE_MAJOR
readonly suite_dir=$cache_dir/conformance-$SUITE_VERSION
readonly suite_entry=$suite_dir/node_modules/$SUITE_PACKAGE/dist/index.js

say() { echo "conformance: $*" >&2; }
die() { say "$*"; exit 1; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

npm_install() {  # npm_install DIR PACKAGE: install into a fresh directory, then move it into place whole
    local target=$1 package=$2 staging
    command -v npm >/dev/null || die "npm is needed to install $package"
    staging=$(mktemp -d "$cache_dir/.install.XXXXXX")
    say "installing $package into $target (first run only)"
    if ! npm install --prefix "$staging" --no-audit --no-fund --no-save --loglevel=error "$package" >"$staging.log" 2>&1; then
        cat "$staging.log" >&2
        rm -rf "$staging" "$staging.log"
        die "npm install $package failed"
    fi
    rm -rf "$target" "$staging.log"
    mv "$staging" "$target"
}

# Pick or install a Node new enough for the suite.
find_node() {
    local system_node
    system_node=$(command -v node || true)
    if [[ -n "$system_node" && $(node_major "$system_node") -ge $NODE_MAJOR ]]; then
        echo "$system_node"
        return
    fi
    local arch
    case $(uname -m) in
        x86_64 | amd64) arch=x64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) die "no Node $NODE_MAJOR package for $(uname -m); install Node >= $NODE_MAJOR and put it on PATH" ;;
    esac
    local bin=$node_dir/node_modules/node-linux-$arch/bin/node
    if [[ $(node_major "$bin") -ne $NODE_MAJOR ]]; then
        npm_install "$node_dir" "node-linux-$arch@$NODE_MAJOR"
        [[ $(node_major "$bin") -eq $NODE_MAJOR ]] || die "the node-linux-$arch@$NODE_MAJOR package gave no working node"
    fi
    echo "$bin"
}

suite_installed() {
    local manifest=$suite_dir/node_modules/$SUITE_PACKAGE/package.json
    [[ -f "$suite_entry" ]] &&
        [[ $(MANIFEST=$manifest "$node" -p 'require(process.env.MANIFEST).version' 2>/dev/null) == "$SUITE_VERSION" ]]
}

# One installer at a time: two runs started together (CI shards, two shells) must not interleave npm installs.
exec 9>"$cache_dir/.lock"
if command -v flock >/dev/null; then flock 9; fi
node=$(find_node)
suite_installed || npm_install "$suite_dir" "$SUITE_PACKAGE@$SUITE_VERSION"
suite_installed || die "$SUITE_PACKAGE@$SUITE_VERSION did not install"
exec 9>&-

results=$(mktemp -d "${TMPDIR:-/tmp}/prynai-conformance.XXXXXX")
keep_results=0
cleanup() { [[ $keep_results -eq 1 ]] || rm -rf "$results"; }
trap cleanup EXIT

# Print each failing check of the set's scored scenarios (scenario, check id, message) from its checks.json files;
# the scenarios the suite listed under "Not scored for SET" are left out.
report_failures() {  # report_failures RESULTS_DIR LOG
    "$node" - "$1" "$2" <<'JS'
const fs = require("fs"), path = require("path");
const [dir, log] = process.argv.slice(2);
const lines = fs.readFileSync(log, "utf8").split("\n");
const start = lines.findIndex((line) => line.startsWith("Not scored for "));
const unscored = new Set(
  start < 0 ? [] : lines.slice(start + 1).map((line) => (line.match(/^\s+[✓✗] (\S+) \(/) || [])[1]).filter(Boolean),
);
for (const entry of fs.readdirSync(dir).sort()) {
  const file = path.join(dir, entry, "checks.json");
  const scenario = entry.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, "");
  if (!fs.existsSync(file) || unscored.has(scenario)) continue;
  for (const check of JSON.parse(fs.readFileSync(file, "utf8"))) {
    if (check.status === "FAILURE") console.log(`  ${scenario}: ${check.id}: ${(check.errorMessage || "").slice(0, 400)}`);
  }
}
JS
}

# Summarise one run from the suite's own summary: scenario lines are "✓ name: ..." / "✗ name: ...", then
# "Not scored for SET: N scenario(s) run, K failing".
summarise() {  # summarise SET LOG STATUS
    local set=$1 log=$2 status=$3 total failed unscored=0 unscored_failed=0 line
    total=$(sed -n '/^=== SUMMARY ===/,/^Total:/p' "$log" | grep -c '^[✓✗] ' || true)
    failed=$(sed -n '/^=== SUMMARY ===/,/^Total:/p' "$log" | grep -c '^✗ ' || true)
    line=$(grep -m1 "^Not scored for $set:" "$log" || true)
    if [[ $line =~ ([0-9]+)\ scenario\(s\)\ run,\ ([0-9]+)\ failing ]]; then
        unscored=${BASH_REMATCH[1]}
        unscored_failed=${BASH_REMATCH[2]}
    fi
    local scored=$((total - unscored)) scored_failed=$((failed - unscored_failed)) verdict=PASS
    [[ $status -eq 0 ]] || verdict=FAIL
    printf 'conformance %s: %s  %d/%d scored scenarios passed (not scored: %d run, %d failing)\n' \
        "$set" "$verdict" $((scored - scored_failed)) "$scored" "$unscored" "$unscored_failed"
}

overall=0
for set in "${REQUIREMENT_SETS[@]}"; do
    log=$results/$set.log
    status=0
    "$node" "$suite_entry" server --url "$URL" --requirements "$set" -o "$results/$set" \
        --timeout "${PRYNAI_CONFORMANCE_TIMEOUT_MS:-30000}" >"$log" 2>&1 || status=$?
    if ! grep -q '^=== SUMMARY ===' "$log"; then
        cat "$log" >&2
        [[ $status -ne 0 ]] || status=1
        echo "conformance $set: FAIL  the suite did not run (output above)"
    else
        [[ $status -eq 0 && "${PRYNAI_CONFORMANCE_VERBOSE:-0}" != 1 ]] || sed -n '/^=== SUMMARY ===/,$p' "$log"
        summarise "$set" "$log" "$status"
        if [[ $status -ne 0 ]]; then
            echo "failing checks ($set):"
            report_failures "$results/$set" "$log"
        fi
    fi
    [[ $status -eq 0 ]] || overall=1
done

if [[ $overall -ne 0 ]]; then
    keep_results=1
    echo "full output and per-scenario checks.json kept in $results"
fi
exit $overall
