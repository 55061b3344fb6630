// PrynAI MCP on Azure Container Apps, with Azure Managed Redis as the only shared state (docs/azure.md).
// Deployed into one resource group by deploy_aca.sh / deploy_aca.ps1 (or `azd up`), in two passes: first without an
// image (everything but the app: the registry exists before the image is built in it), then with the image.
//
// Order of creation: monitoring -> identity -> (network) -> registry (AcrPull for the identity) and Redis (access
// policy for the identity) -> environment -> app -> (front door). The identity exists before the app, so the app's
// first replica can pull its image and reach Redis.

targetScope = 'resourceGroup'

@description('Name of the Container App, and stem of every other resource name (lower-case letters, digits, hyphens).')
@minLength(3)
@maxLength(24)
param name string = 'prynai-mcp'

param location string = resourceGroup().location

@description('Full image reference to run. Empty: deploy everything but the app (the first pass, before the build).')
param image string = ''

@description('Shown in prynai://status as the build (the deploy scripts pass the image tag).')
param buildId string = 'unknown'

@description('Microsoft Entra ID tenant of the server app (ENTRA_TENANT_ID).')
param tenantId string = tenant().tenantId

@description('The server app\'s Application (client) ID (SERVER_APP_ID). Not needed with createEntraApps.')
param serverAppId string = ''

@description('The server app\'s App ID URI (SERVER_APP_ID_URI). Empty: api://<serverAppId>.')
param serverAppIdUri string = ''

@description('Create the server and client app registrations with the Microsoft Graph extension (needs Graph rights).')
param createEntraApps bool = false

@description('App roles an application (client-credentials) token must carry, comma separated (ENTRA_REQUIRED_APP_ROLES).')
param requiredAppRoles string = ''

@description('Scopes a delegated token must carry, comma separated (ENTRA_REQUIRED_SCOPES).')
param requiredScopes string = ''

@description('Per-tool permissions, e.g. bump_counter=Mcp.Write (PRYNAI_TOOL_ROLES).')
param toolRoles string = ''

@description('Browser origins granted CORS, comma separated (CORS_ALLOW_ORIGINS).')
param corsAllowOrigins string = ''

@description('managed: Azure Managed Redis, Entra ID auth (default). cache: Azure Cache for Redis with its key (retiring).')
@allowed([
  'managed'
  'cache'
])
param redisKind string = 'managed'

@description('Azure Managed Redis size.')
param managedRedisSku string = 'Balanced_B1'

@description('Azure Managed Redis: replicate across two nodes.')
param redisHighAvailability bool = true

@description('Azure Cache for Redis tier and size (redisKind cache).')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param cacheSku string = 'Standard'
param cacheCapacity int = 1

@description('Container registry tier (the private variant always uses Premium).')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param registrySku string = 'Basic'

@description('Private variant: a virtual network, private endpoints for Redis and the registry, public access off on both.')
param privateNetworking bool = false

@description('Private variant: an internal environment (no public address; the app is reached from the network only).')
param internalEnvironment bool = false

@description('Private variant: address space of the virtual network and its subnets.')
param vnetAddressPrefix string = '10.40.0.0/16'
param environmentSubnetPrefix string = '10.40.0.0/23'
param endpointSubnetPrefix string = '10.40.2.0/24'
param buildSubnetPrefix string = '10.40.3.0/24'

@description('Replicas: at least two, so a session is seen to roam; the HTTP and CPU rules add up to maxReplicas.')
@minValue(2)
param minReplicas int = 2
@minValue(2)
param maxReplicas int = 10
param concurrentRequests int = 50
param cpuUtilization int = 70

@description('vCPU and memory per replica (Consumption profile: 0.5 vCPU pairs with 1Gi).')
param cpu string = '0.5'
param memory string = '1Gi'

@description('Seconds from SIGTERM to SIGKILL; the server drains in 5 s less (PRYNAI_SHUTDOWN_GRACE_SECONDS).')
@minValue(10)
@maxValue(600)
param terminationGracePeriodSeconds int = 30

@description('The server ends SSE streams after this long, before the ingress\'s 240 s cut (PRYNAI_SSE_MAX_STREAM_SECONDS).')
@maxValue(230)
param sseMaxStreamSeconds int = 200

@description('Optional: an existing Key Vault (RBAC mode, this resource group) to hold the app\'s secrets.')
param keyVaultName string = ''

@description('Optional custom domain for the app (its CNAME/TXT records must exist), and its certificate id.')
param customDomainName string = ''
param customDomainCertificateId string = ''

@description('none, or apim: an API Management front door keeping /mcp, with unbuffered streams.')
@allowed([
  'none'
  'apim'
])
param frontDoor string = 'none'

@allowed([
  'BasicV2'
  'StandardV2'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
param apimSku string = 'BasicV2'
param apimPublisherEmail string = ''
param apimPublisherName string = 'PrynAI MCP'

@description('Days Log Analytics keeps log lines.')
param logRetentionDays int = 30

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

param tags object = {}

var allTags = union({
  application: 'prynai-mcp'
}, tags)
var suffix = uniqueString(resourceGroup().id)
var deployApp = !empty(image)
var registryName = take('acr${replace(name, '-', '')}${suffix}', 50)
var redisName = take('redis-${name}-${suffix}', 60)
var apimName = 'apim-${name}-${suffix}'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: name
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: name
    location: location
    tags: allTags
  }
}

module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'network'
  params: {
    name: name
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    environmentSubnetPrefix: environmentSubnetPrefix
    endpointSubnetPrefix: endpointSubnetPrefix
    buildSubnetPrefix: buildSubnetPrefix
    redisKind: redisKind
  }
}

module entra 'modules/entra_apps.bicep' = if (createEntraApps) {
  name: 'entra-apps'
  params: {
    name: name
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    name: registryName
    location: location
    tags: allTags
    sku: registrySku
    pullPrincipalId: identity.outputs.principalId
    privateNetworking: privateNetworking
    endpointSubnetId: privateNetworking ? network!.outputs.endpointSubnetId : ''
    dnsZoneId: privateNetworking ? network!.outputs.registryZoneId : ''
    agentSubnetId: privateNetworking ? network!.outputs.buildSubnetId : ''
  }
}

module managedRedis 'modules/managed_redis.bicep' = if (redisKind == 'managed') {
  name: 'managed-redis'
  params: {
    name: redisName
    location: location
    tags: allTags
    sku: managedRedisSku
    highAvailability: redisHighAvailability
    principalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    privateNetworking: privateNetworking
    endpointSubnetId: privateNetworking ? network!.outputs.endpointSubnetId : ''
    dnsZoneId: privateNetworking ? network!.outputs.redisZoneId : ''
  }
}

module azureCache 'modules/azure_cache_redis.bicep' = if (redisKind == 'cache') {
  name: 'azure-cache-redis'
  params: {
    name: redisName
    location: location
    tags: allTags
    sku: cacheSku
    capacity: cacheCapacity
    workspaceId: monitoring.outputs.workspaceId
    privateNetworking: privateNetworking
    endpointSubnetId: privateNetworking ? network!.outputs.endpointSubnetId : ''
    dnsZoneId: privateNetworking ? network!.outputs.redisZoneId : ''
  }
}

module appEnvironment 'modules/environment.bicep' = {
  name: 'environment'
  params: {
    name: name
    location: location
    tags: allTags
    workspaceName: monitoring.outputs.workspaceName
    privateNetworking: privateNetworking
    subnetId: privateNetworking ? network!.outputs.environmentSubnetId : ''
    internal: internalEnvironment
    vnetId: privateNetworking ? network!.outputs.vnetId : ''
  }
}

var effectiveServerAppId = createEntraApps ? entra!.outputs.serverAppId : serverAppId
var effectiveServerAppIdUri = createEntraApps ? entra!.outputs.serverAppIdUri : (empty(serverAppIdUri) ? 'api://${serverAppId}' : serverAppIdUri)

// The app's name is known before it exists (<name>.<environment domain>): the server's allowed hosts and public URL
// are set from it in the same deployment.
var appFqdn = '${name}.${appEnvironment.outputs.defaultDomain}'
var publicHost = frontDoor == 'apim' ? '${apimName}.azure-api.net' : (empty(customDomainName) ? appFqdn : customDomainName)
var allowedHosts = empty(customDomainName) ? appFqdn : '${appFqdn},${customDomainName}'

module app 'modules/container_app.bicep' = if (deployApp) {
  name: 'container-app'
  dependsOn: [
    registry
    managedRedis
    azureCache
  ]
  params: {
    name: name
    location: location
    tags: allTags
    environmentId: appEnvironment.outputs.id
    image: image
    registryServer: registry.outputs.loginServer
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    buildId: buildId
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    concurrentRequests: concurrentRequests
    cpuUtilization: cpuUtilization
    cpu: cpu
    memory: memory
    terminationGracePeriodSeconds: terminationGracePeriodSeconds
    sseMaxStreamSeconds: sseMaxStreamSeconds
    redisKind: redisKind
    redisHostName: redisKind == 'managed' ? managedRedis!.outputs.hostName : ''
    redisCacheName: redisKind == 'cache' ? azureCache!.outputs.name : ''
    keyVaultName: keyVaultName
    insightsName: monitoring.outputs.insightsName
    tenantId: tenantId
    audiences: '${effectiveServerAppId},${effectiveServerAppIdUri}'
    requiredAppRoles: requiredAppRoles
    requiredScopes: requiredScopes
    toolRoles: toolRoles
    allowedHosts: allowedHosts
    publicUrl: 'https://${publicHost}/mcp'
    corsAllowOrigins: corsAllowOrigins
    logLevel: logLevel
    customDomainName: customDomainName
    customDomainCertificateId: customDomainCertificateId
  }
}

module frontDoorService 'modules/front_door.bicep' = if (deployApp && frontDoor == 'apim') {
  name: 'front-door'
  params: {
    name: apimName
    location: location
    tags: allTags
    sku: apimSku
    publisherEmail: apimPublisherEmail
    publisherName: apimPublisherName
    backendUrl: 'https://${appFqdn}'
  }
}

output registryName string = registry.outputs.name
output registryLoginServer string = registry.outputs.loginServer
@description('Private variant: the agent pool `az acr build --agent-pool` must use.')
output registryAgentPool string = registry.outputs.agentPool
output appName string = name
output fqdn string = deployApp ? app!.outputs.fqdn : ''
output mcpUrl string = 'https://${publicHost}/mcp'
output identityClientId string = identity.outputs.clientId
output workspaceName string = monitoring.outputs.workspaceName
output serverAppId string = effectiveServerAppId
output serverAppIdUri string = effectiveServerAppIdUri
output clientAppId string = createEntraApps ? entra!.outputs.clientAppId : ''
