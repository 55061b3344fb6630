# Deploy PrynAI MCP to Azure Container Apps, thin over the Azure CLI (Windows PowerShell 5.1 or PowerShell 7).
# The equivalent of deploy_aca.sh, its bash twin: same steps, options and output. Change both together.
# (PowerShell could not be run where these scripts are tested: the bash script runs in the tests against a stand-in
# az; this one is kept equivalent by hand, and a test compares the az commands and output lines of the two.)
#
#   .\infra\azure\deploy_aca.ps1 [-EnvFile FILE] [-ResourceGroup RG] [-Location REGION] [-Tag TAG]
#                                [-WhatIf] [-Roll] [-AfterProvision]
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
# -WhatIf     shows what steps 3 and 5 would change (az deployment group what-if); creates, builds and changes nothing.
# -Roll       builds a new image and rolls the app to it (az containerapp update); no template is deployed.
# -AfterProvision   azd's postprovision hook: step 3 was done by `azd provision`; steps 4 and 5.
#
# No secret is passed on a command line or printed: parameters travel in a parameters file (deleted at the end), and
# the one secret the app may need besides its identity (the Azure Cache for Redis key) is read inside Azure.

param(
    [string]$EnvFile = "",
    [Alias("g")][string]$ResourceGroup = "",
    [Alias("l")][string]$Location = "",
    [string]$Tag = "",
    [switch]$WhatIf,
    [switch]$Roll,
    [switch]$AfterProvision
)

$ErrorActionPreference = "Stop"
$here = $PSScriptRoot
$root = (Resolve-Path (Join-Path $here "..\..")).Path
$template = Join-Path $here "main.bicep"
$parametersTemplate = Join-Path $here "main.parameters.json"
$dockerfile = "infra/docker/Dockerfile"

function Stop-Deploy([string]$message) {
    [Console]::Error.WriteLine("error: $message")
    exit 1
}

function Invoke-AzQuiet {
    # az with its error output dropped (a "not found" probe). Windows PowerShell 5.1 turns a native command's
    # redirected stderr into errors, which "Stop" would make fatal: relax it for the call, judge by the exit code.
    $saved = $ErrorActionPreference
    $ErrorActionPreference = "Continue"
    try { & az @args 2>$null } finally { $ErrorActionPreference = $saved }
}

function Invoke-Az {
    # az, failing the script when az fails (a native command's exit code does not stop PowerShell by itself).
    $output = & az @args
    if ($LASTEXITCODE -ne 0) { Stop-Deploy "az $($args[0]) $($args[1]) failed (exit $LASTEXITCODE)" }
    return $output
}

# --- settings ---------------------------------------------------------------------------------------------------

# The names the parameters file uses, and so the only names read from .env: ${NAME} and ${NAME=default}.
$templateText = [System.IO.File]::ReadAllText($parametersTemplate)
$wanted = @([regex]::Matches($templateText, '\$\{([A-Za-z_][A-Za-z0-9_]*)') | ForEach-Object { $_.Groups[1].Value })
$wanted += "AZURE_RESOURCE_GROUP"
$settings = @{}
foreach ($name in $wanted) {
    $value = [Environment]::GetEnvironmentVariable($name)
    if ($null -ne $value) { $settings[$name] = $value }  # the environment wins
}

if (-not $EnvFile) {
    if (Test-Path ".env") { $EnvFile = ".env" } elseif (Test-Path (Join-Path $root ".env")) { $EnvFile = Join-Path $root ".env" }
}
if ($EnvFile) {
    if (-not (Test-Path $EnvFile)) { Stop-Deploy "no such file: $EnvFile" }
    foreach ($line in Get-Content $EnvFile) {
        if ($line -notmatch '^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$') { continue }
        $name = $Matches[2]
        $value = $Matches[3].Trim()
        if ($wanted -notcontains $name -or $settings.ContainsKey($name)) { continue }
        if ($value -match '^"(.*)"$' -or $value -match "^'(.*)'$") { $value = $Matches[1] }
        $settings[$name] = $value
    }
}

function Get-Setting([string]$name, [string]$default = "") {
    if ($settings.ContainsKey($name) -and $settings[$name]) { return $settings[$name] }
    return $default
}

if (-not $ResourceGroup) { $ResourceGroup = Get-Setting "AZURE_RESOURCE_GROUP" "rg-prynai-mcp" }
if (-not $Location) { $Location = Get-Setting "AZURE_LOCATION" "eastus" }
$settings["AZURE_LOCATION"] = $Location
$appName = Get-Setting "PRYNAI_APP_NAME" "prynai-mcp"

if (-not (Get-Setting "ENTRA_TENANT_ID")) { Stop-Deploy "set ENTRA_TENANT_ID (environment or .env): the tenant of the server app" }
if ((Get-Setting "PRYNAI_CREATE_ENTRA_APPS" "false") -ne "true" -and -not (Get-Setting "SERVER_APP_ID")) {
    Stop-Deploy "set SERVER_APP_ID (environment or .env): the server app's Application (client) ID, or PRYNAI_CREATE_ENTRA_APPS=true"
}
if (-not (Test-Path (Join-Path $root $dockerfile))) { Stop-Deploy "no $dockerfile under ${root}: the image is built from it" }

if (-not $Tag) {
    $commit = "local"
    try {
        $ErrorActionPreference = "Continue"
        $head = git -C $root rev-parse --short HEAD 2>$null
        if ($LASTEXITCODE -eq 0 -and $head) { $commit = $head }
    }
    catch { }  # no git: the tag says "local"
    finally { $ErrorActionPreference = "Stop" }
    $Tag = "$commit-$((Get-Date).ToUniversalTime().ToString('yyyyMMddHHmmss'))"
}

$work = Join-Path ([System.IO.Path]::GetTempPath()) ("prynai-deploy-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $work | Out-Null

# main.parameters.json with every ${NAME=default} replaced (the azd syntax), booleans and numbers made JSON literals.
function Write-Parameters([string]$path, [hashtable]$overrides) {
    $text = [regex]::Replace($templateText, '\$\{([A-Za-z_][A-Za-z0-9_]*)(=([^}]*))?\}', {
            param($match)
            $name = $match.Groups[1].Value
            $value = if ($overrides.ContainsKey($name)) { $overrides[$name] } else { Get-Setting $name $match.Groups[3].Value }
            if (-not $value) { $value = $match.Groups[3].Value }
            return $value.Replace('\', '\\').Replace('"', '\"')
        })
    $text = [regex]::Replace($text, '"(createEntraApps|privateNetworking|internalEnvironment|minReplicas|maxReplicas)": \{ "value": "(true|false|[0-9]+)" \}', '"$1": { "value": $2 }')
    [System.IO.File]::WriteAllText($path, $text, (New-Object System.Text.UTF8Encoding($false)))
}

function Get-Output([string]$deployment, [string]$name) {
    # One output value of a deployment in the resource group.
    $value = Invoke-AzQuiet deployment group show --resource-group $ResourceGroup --name $deployment --query "properties.outputs.$name.value" --output tsv
    if ($LASTEXITCODE -ne 0) { return "" }
    return $value
}

function Build-Image([string]$registry, [string]$agentPool) {
    # The image, built in the registry from the repository.
    $pool = @()
    if ($agentPool) { $pool = @("--agent-pool", $agentPool) }
    Write-Output "== building $imageName in $registry (az acr build)"
    # Called directly, not through Invoke-Az, so the build log streams while it runs.
    & az acr build --registry $registry --image $imageName --file $dockerfile --build-arg "GIT_COMMIT=$Tag" @pool $root
    if ($LASTEXITCODE -ne 0) { Stop-Deploy "az acr build failed (exit $LASTEXITCODE)" }
}

function Write-Result([string]$fqdn, [string]$mcpUrl) {
    # The user's two lines.
    Write-Output "ACA FQDN: $fqdn"
    Write-Output "MCP URL:  $mcpUrl"
    Write-Output "next: scripts/smoke_aca.sh $mcpUrl"
}

$imageName = "${appName}:$Tag"
$infraDeployment = "$appName-infra"
$appDeployment = "$appName-app"

try {
    # --- sign-in and resource group -----------------------------------------------------------------------------

    $subscription = & az account show --query id --output tsv
    if ($LASTEXITCODE -ne 0) { Stop-Deploy "not signed in: run az login (and az account set)" }
    Write-Output "== subscription $subscription, resource group $ResourceGroup ($Location), app $appName"

    Invoke-AzQuiet group show --name $ResourceGroup --output none
    $groupExists = ($LASTEXITCODE -eq 0)

    # --- roll a new image ---------------------------------------------------------------------------------------

    if ($Roll) {
        if (-not $groupExists) { Stop-Deploy "resource group $ResourceGroup does not exist: deploy first" }
        $registry = Invoke-Az acr list --resource-group $ResourceGroup --query "[0].name" --output tsv
        $loginServer = Invoke-Az acr list --resource-group $ResourceGroup --query "[0].loginServer" --output tsv
        if (-not $registry) { Stop-Deploy "no registry in ${ResourceGroup}: deploy first" }
        $current = & az containerapp show --resource-group $ResourceGroup --name $appName --query "properties.template.containers[0].image" --output tsv
        if ($LASTEXITCODE -ne 0) { Stop-Deploy "no app ${appName}: deploy first" }
        if ($WhatIf) {
            Write-Output "what-if: would build $loginServer/$imageName and roll $appName from $current to it"
            Write-Output "what-if: nothing was changed"
            exit 0
        }
        Build-Image $registry (Get-Output $infraDeployment "registryAgentPool")
        Write-Output "== rolling $appName to $loginServer/$imageName"
        Invoke-Az containerapp update --resource-group $ResourceGroup --name $appName --image "$loginServer/$imageName" --set-env-vars "PRYNAI_BUILD=$Tag" --output none
        $fqdn = Invoke-Az containerapp show --resource-group $ResourceGroup --name $appName --query "properties.configuration.ingress.fqdn" --output tsv
        $mcpUrl = Get-Output $appDeployment "mcpUrl"
        if (-not $mcpUrl) { $mcpUrl = "https://$fqdn/mcp" }
        Write-Result $fqdn $mcpUrl
        exit 0
    }

    # --- what-if ------------------------------------------------------------------------------------------------

    if ($WhatIf) {
        if (-not $groupExists) {
            Write-Output "what-if: would create resource group $ResourceGroup in $Location; what-if needs it, so stops here"
            Write-Output "what-if: nothing was changed"
            exit 0
        }
        # Against the image the app runs now (if any), so only template changes show.
        $current = Invoke-AzQuiet containerapp show --resource-group $ResourceGroup --name $appName --query "properties.template.containers[0].image" --output tsv
        if ($LASTEXITCODE -ne 0) { $current = "" }
        $build = if ($current) { $current.Split(":")[-1] } else { $Tag }
        Write-Parameters (Join-Path $work "parameters.json") @{ PRYNAI_IMAGE = "$current"; PRYNAI_BUILD = $build }
        $shown = if ($current) { $current } else { "<none: infrastructure only>" }
        Write-Output "== what-if: main.bicep with image $shown"
        Invoke-Az deployment group what-if --resource-group $ResourceGroup --name $appDeployment --template-file $template --parameters "@$(Join-Path $work 'parameters.json')" | Write-Output
        Write-Output "what-if: nothing was changed"
        exit 0
    }

    # --- deploy -------------------------------------------------------------------------------------------------

    if (-not $AfterProvision) {
        if (-not $groupExists) {
            Write-Output "== creating resource group $ResourceGroup in $Location"
            Invoke-Az group create --name $ResourceGroup --location $Location --tags application=prynai-mcp --output none
        }
        Write-Parameters (Join-Path $work "infra.json") @{ PRYNAI_IMAGE = ""; PRYNAI_BUILD = $Tag }
        Write-Output "== deploying the infrastructure (main.bicep, no image yet)"
        Invoke-Az deployment group create --resource-group $ResourceGroup --name $infraDeployment --template-file $template --parameters "@$(Join-Path $work 'infra.json')" --output none
        $registry = Get-Output $infraDeployment "registryName"
        $loginServer = Get-Output $infraDeployment "registryLoginServer"
        $agentPool = Get-Output $infraDeployment "registryAgentPool"
    }
    else {
        # azd provisioned main.bicep and put its outputs in the hook's environment.
        $registry = $env:REGISTRYNAME
        $loginServer = $env:REGISTRYLOGINSERVER
        $agentPool = $env:REGISTRYAGENTPOOL
        if (-not $registry -or -not $loginServer) { Stop-Deploy "azd did not pass the registryName and registryLoginServer outputs" }
    }

    Build-Image $registry $agentPool

    Write-Parameters (Join-Path $work "app.json") @{ PRYNAI_IMAGE = "$loginServer/$imageName"; PRYNAI_BUILD = $Tag }
    Write-Output "== deploying the app (main.bicep with $loginServer/$imageName)"
    Invoke-Az deployment group create --resource-group $ResourceGroup --name $appDeployment --template-file $template --parameters "@$(Join-Path $work 'app.json')" --output none

    Write-Result (Get-Output $appDeployment "fqdn") (Get-Output $appDeployment "mcpUrl")
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
