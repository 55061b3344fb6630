#!/usr/bin/env bash
# Smoke test PrynAI MCP where it runs: on Azure Container Apps after infra/azure/deploy_aca.sh, or at any URL (a local
# server included).
#
#   scripts/smoke_aca.sh [URL] [--wire modern|legacy] [--env-file FILE] [--keep-proxy]
#
# URL is https://<fqdn> or https://<fqdn>/mcp (default: PRYNAI_MCP_URL, from the environment or the .env file).
# 1. GET <base>/healthz, printed as it comes: {"status":"ok","redis":true} on Azure. "redis": false stops here.
# 2. the client-credentials smoke, examples/smoke_oauth_cc.py: a token from Microsoft Entra ID with MSAL
#    (ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET, SERVER_APP_ID_URI from the environment or .env), then
#      TOOLS: [...]
#      ADD RESULT: 15
#      STATUS: ok
# Proxy variables are cleared for both steps, as the user's ACA smoke did (--keep-proxy keeps them).
# PRYNAI_SMOKE_PYTHON runs the smoke with another interpreter (default: uv run python, in this repository).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url=""
wire="modern"
env_file=""
keep_proxy=false

while (($#)); do
  case "$1" in
    --wire) wire="${2:?--wire needs modern or legacy}"; shift 2 ;;
    --env-file) env_file="${2:?--env-file needs a path}"; shift 2 ;;
    --keep-proxy) keep_proxy=true; shift ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) url="$1"; shift ;;
  esac
done

if [[ -z "$url" ]]; then
  url="${PRYNAI_MCP_URL:-}"
  dotenv="${env_file:-.env}"
  if [[ -z "$url" && -f "$dotenv" ]]; then
    url=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}PRYNAI_MCP_URL[[:space:]]*=[[:space:]]*//p' "$dotenv" \
      | tail -n 1 | tr -d '\r"'"'")
  fi
fi
[[ -n "$url" ]] || { echo "error: give the URL (https://<fqdn>) or set PRYNAI_MCP_URL" >&2; exit 2; }
url="${url%/}"
base="${url%/mcp}"
mcp_url="$base/mcp"

without_proxy=(env)
if ! $keep_proxy; then
  for name in HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY http_proxy https_proxy all_proxy no_proxy; do
    without_proxy+=(-u "$name")
  done
fi

echo "== GET $base/healthz"
if ! health=$("${without_proxy[@]}" curl --silent --show-error --max-time 20 --write-out '\n%{http_code}' "$base/healthz"); then
  echo "error: $base/healthz cannot be reached (TLS errors: see docs/azure.md, troubleshooting)" >&2
  exit 1
fi
status="${health##*$'\n'}"
body="${health%$'\n'*}"
echo "$body"
if [[ "$status" != 200 ]]; then
  echo "error: /healthz answered HTTP $status" >&2
  exit 1
fi
if [[ "$body" == *'"redis":false'* || "$body" == *'"redis": false'* ]]; then
  echo "error: the server cannot reach Redis. Check REDIS_URL: rediss://<host>:10000/0 with PRYNAI_REDIS_AUTH=entra" \
    "(Azure Managed Redis: the identity needs the access policy) or rediss://:<key>@<host>:6380/0 (Azure Cache" \
    "for Redis), then restart the app (docs/azure.md, troubleshooting)" >&2
  exit 1
fi

echo "== client-credentials smoke against $mcp_url"
if [[ -n "${PRYNAI_SMOKE_PYTHON:-}" ]]; then
  read -r -a python <<<"$PRYNAI_SMOKE_PYTHON"
else
  python=(uv run --project "$root" --frozen python)
fi
smoke=("$root/examples/smoke_oauth_cc.py" --wire "$wire")
[[ -n "$env_file" ]] && smoke+=(--env-file "$env_file")
exec "${without_proxy[@]}" PRYNAI_MCP_URL="$mcp_url" "${python[@]}" "${smoke[@]}"
