#!/usr/bin/env bash
# Deploy PrynAI MCP to Azure Container Apps, thin over the Azure CLI (works in Azure Cloud Shell too).
# deploy_aca.ps1 is its PowerShell twin: same steps, options and output. Change both together.
#
#   infra/azure/deploy_aca.sh [--env-file FILE] [-g RESOURCE_GROUP] [-l LOCATION] [--tag TAG]
#                             [--what-if] [--roll] [--after-provision]
#
# 1. reads the settings main.parameters.json names (ENTRA_TENANT_ID, SERVER_APP_ID, SERVER_APP_ID_URI, ...) from the
#    environment, then from .env (the environment wins); nothing else of .env is read;
# 2. creates the resource group, or reuses it;
# 3. deploys main.bicep without an image: monitoring, identity, registry, Redis, environment (and network);
# 4. builds the image in the registry (az acr build: no local Docker needed);
# 5. deploys main.bicep with the image: the Container App (and the front door), then prints
#      ACA FQDN: <fqdn>
#      MCP URL:  https://<fqdn>/mcp
#
# --what-if   shows what step 3 and 5 would change (az deployment group what-if); creates, builds and changes nothing.
# --roll      builds a new image and rolls the app to it (az containerapp update); no template is deployed.
# --after-provision   azd's postprovision hook: step 3 was done by `azd provision`; steps 4 and 5.
#
# No secret is passed on a command line or printed: parameters travel in a parameters file (mode 600, deleted at the
# end), and the one secret the app may need besides its identity (the Azure Cache for Redis key) is read inside
# Azure by the template.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
template="$here/main.bicep"
parameters_template="$here/main.parameters.json"
dockerfile="infra/docker/Dockerfile"

env_file=""
resource_group="${AZURE_RESOURCE_GROUP:-}"
location="${AZURE_LOCATION:-}"
tag=""
what_if=false
roll=false
after_provision=false

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --env-file) env_file="${2:?--env-file needs a path}"; shift 2 ;;
    -g | --resource-group) resource_group="${2:?$1 needs a name}"; shift 2 ;;
    -l | --location) location="${2:?$1 needs a region}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --what-if) what_if=true; shift ;;
    --roll) roll=true; shift ;;
    --after-provision) after_provision=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# --- settings ---------------------------------------------------------------------------------------------------

# The names the parameters file uses, and so the only names read from .env: ${NAME} and ${NAME=default}.
# shellcheck disable=SC2016  # a literal ${ to find, not an expansion
wanted=$(grep -o '\${[A-Za-z_][A-Za-z0-9_]*' "$parameters_template" | cut -c3- | sort -u)
wanted+=$'\nAZURE_RESOURCE_GROUP'

if [[ -z "$env_file" ]]; then
  if [[ -f .env ]]; then env_file=.env; elif [[ -f "$root/.env" ]]; then env_file="$root/.env"; fi
fi
if [[ -n "$env_file" ]]; then
  [[ -f "$env_file" ]] || die "no such file: $env_file"
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"  # .env files written on Windows
    [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] || continue
    name="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    grep -qx "$name" <<<"$wanted" || continue
    [[ -n "${!name+set}" ]] && continue  # the environment wins
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    printf -v "$name" '%s' "$value"
  done <"$env_file"
fi

resource_group="${resource_group:-${AZURE_RESOURCE_GROUP:-rg-prynai-mcp}}"
location="${location:-${AZURE_LOCATION:-eastus}}"
AZURE_LOCATION="$location"
app_name="${PRYNAI_APP_NAME:-prynai-mcp}"

[[ -n "${ENTRA_TENANT_ID:-}" ]] || die "set ENTRA_TENANT_ID (environment or .env): the tenant of the server app"
if [[ "${PRYNAI_CREATE_ENTRA_APPS:-false}" != true && -z "${SERVER_APP_ID:-}" ]]; then
  die "set SERVER_APP_ID (environment or .env): the server app's Application (client) ID, or PRYNAI_CREATE_ENTRA_APPS=true"
fi
[[ -f "$root/$dockerfile" ]] || die "no $dockerfile under $root: the image is built from it"

if [[ -z "$tag" ]]; then
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo local)
  tag="$commit-$(date -u +%Y%m%d%H%M%S)"
fi

work=$(mktemp -d)
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT

# main.parameters.json with every ${NAME=default} replaced (the azd syntax), booleans and numbers made JSON literals.
render_parameters() {
  local out="$1" line name default value
  : >"$out"
  chmod 600 "$out"
  while IFS= read -r line || [[ -n "$line" ]]; do
    while [[ "$line" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)(=([^}]*))?\} ]]; do
      name="${BASH_REMATCH[1]}"
      default="${BASH_REMATCH[3]}"
      value="${!name:-$default}"
      value="${value//\\/\\\\}"
      value="${value//\"/\\\"}"
      line="${line/"${BASH_REMATCH[0]}"/"$value"}"
    done
    for name in createEntraApps privateNetworking internalEnvironment minReplicas maxReplicas; do
      if [[ "$line" =~ ^(.*\"$name\":\ \{\ \"value\":\ )\"(true|false|[0-9]+)\"(.*)$ ]]; then
        line="${BASH_REMATCH[1]}${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
      fi
    done
    printf '%s\n' "$line" >>"$out"
  done <"$parameters_template"
}

output_of() {  # output_of DEPLOYMENT NAME: one output value of a deployment in the resource group
  az deployment group show --resource-group "$resource_group" --name "$1" \
    --query "properties.outputs.$2.value" --output tsv
}

build_image() {  # build_image REGISTRY AGENT_POOL: the image, built in the registry from the repository
  local pool=()
  [[ -n "$2" ]] && pool=(--agent-pool "$2")
  echo "== building $image_name in $1 (az acr build)"
  az acr build --registry "$1" --image "$image_name" --file "$dockerfile" \
    --build-arg "GIT_COMMIT=$tag" ${pool[@]+"${pool[@]}"} "$root"
}

print_result() {  # print_result FQDN MCP_URL: the user's two lines
  echo "ACA FQDN: $1"
  echo "MCP URL:  $2"
  echo "next: scripts/smoke_aca.sh $2"
}

image_name="$app_name:$tag"
infra_deployment="$app_name-infra"
app_deployment="$app_name-app"

# --- sign-in and resource group -----------------------------------------------------------------------------------

subscription=$(az account show --query id --output tsv) || die "not signed in: run az login (and az account set)"
echo "== subscription $subscription, resource group $resource_group ($location), app $app_name"

if az group show --name "$resource_group" --output none 2>/dev/null; then
  group_exists=true
else
  group_exists=false
fi

# --- roll a new image ---------------------------------------------------------------------------------------------

if $roll; then
  $group_exists || die "resource group $resource_group does not exist: deploy first"
  registry=$(az acr list --resource-group "$resource_group" --query "[0].name" --output tsv)
  login_server=$(az acr list --resource-group "$resource_group" --query "[0].loginServer" --output tsv)
  [[ -n "$registry" ]] || die "no registry in $resource_group: deploy first"
  current=$(az containerapp show --resource-group "$resource_group" --name "$app_name" \
    --query "properties.template.containers[0].image" --output tsv) || die "no app $app_name: deploy first"
  if $what_if; then
    echo "what-if: would build $login_server/$image_name and roll $app_name from $current to it"
    echo "what-if: nothing was changed"
    exit 0
  fi
  build_image "$registry" "$(output_of "$infra_deployment" registryAgentPool 2>/dev/null || true)"
  echo "== rolling $app_name to $login_server/$image_name"
  az containerapp update --resource-group "$resource_group" --name "$app_name" \
    --image "$login_server/$image_name" --set-env-vars "PRYNAI_BUILD=$tag" --output none
  fqdn=$(az containerapp show --resource-group "$resource_group" --name "$app_name" \
    --query "properties.configuration.ingress.fqdn" --output tsv)
  mcp_url=$(output_of "$app_deployment" mcpUrl 2>/dev/null || true)
  print_result "$fqdn" "${mcp_url:-https://$fqdn/mcp}"
  exit 0
fi

# --- what-if ------------------------------------------------------------------------------------------------------

if $what_if; then
  if ! $group_exists; then
    echo "what-if: would create resource group $resource_group in $location; what-if needs it, so stops here"
    echo "what-if: nothing was changed"
    exit 0
  fi
  # Against the image the app runs now (if any), so only template changes show.
  PRYNAI_IMAGE=$(az containerapp show --resource-group "$resource_group" --name "$app_name" \
    --query "properties.template.containers[0].image" --output tsv 2>/dev/null || true)
  # shellcheck disable=SC2034  # read by render_parameters through ${!name}
  PRYNAI_BUILD="${PRYNAI_IMAGE##*:}"
  render_parameters "$work/parameters.json"
  echo "== what-if: main.bicep with image ${PRYNAI_IMAGE:-<none: infrastructure only>}"
  az deployment group what-if --resource-group "$resource_group" --name "$app_deployment" \
    --template-file "$template" --parameters "@$work/parameters.json"
  echo "what-if: nothing was changed"
  exit 0
fi

# --- deploy -------------------------------------------------------------------------------------------------------

if ! $after_provision; then
  if ! $group_exists; then
    echo "== creating resource group $resource_group in $location"
    az group create --name "$resource_group" --location "$location" --tags application=prynai-mcp --output none
  fi
  PRYNAI_IMAGE="" PRYNAI_BUILD="$tag" render_parameters "$work/infra.json"
  echo "== deploying the infrastructure (main.bicep, no image yet)"
  az deployment group create --resource-group "$resource_group" --name "$infra_deployment" \
    --template-file "$template" --parameters "@$work/infra.json" --output none
  registry=$(output_of "$infra_deployment" registryName)
  login_server=$(output_of "$infra_deployment" registryLoginServer)
  agent_pool=$(output_of "$infra_deployment" registryAgentPool)
else
  # azd provisioned main.bicep and put its outputs in the hook's environment.
  registry="${REGISTRYNAME:?azd did not pass the registryName output}"
  login_server="${REGISTRYLOGINSERVER:?azd did not pass the registryLoginServer output}"
  agent_pool="${REGISTRYAGENTPOOL:-}"
fi

build_image "$registry" "$agent_pool"

PRYNAI_IMAGE="$login_server/$image_name" PRYNAI_BUILD="$tag" render_parameters "$work/app.json"
echo "== deploying the app (main.bicep with $login_server/$image_name)"
az deployment group create --resource-group "$resource_group" --name "$app_deployment" \
  --template-file "$template" --parameters "@$work/app.json" --output none

print_result "$(output_of "$app_deployment" fqdn)" "$(output_of "$app_deployment" mcpUrl)"
