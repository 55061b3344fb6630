// The PrynAI MCP server on Azure Container Apps. What makes it a scale-out deployment rather than a demo:
// - two replicas at least, and no sticky sessions: any replica serves any session, through Redis;
// - HTTP and CPU scale rules;
// - probes that tell a live process (/livez) from one that can serve (/readyz: Redis reachable, not draining);
// - SSE streams ended by the server (PRYNAI_SSE_MAX_STREAM_SECONDS) before the ingress cuts them at 240 s, so clients
//   resume with Last-Event-ID instead of losing the stream;
// - SIGTERM drains within PRYNAI_SHUTDOWN_GRACE_SECONDS, below the platform's termination grace period;
// - every secret through secretRef (a Key Vault reference when a vault is given), never a plain value.

param name string
param location string
param tags object

param environmentId string

@description('Full image reference, e.g. <registry>.azurecr.io/prynai-mcp:<tag>.')
param image string

@description('Registry login server the image is pulled from, with the app\'s identity.')
param registryServer string

@description('The app\'s user-assigned identity: resource id, client id and object (principal) id.')
param identityId string
param identityClientId string
param identityPrincipalId string

@description('Shown in prynai://status as the build (e.g. the git commit of the image).')
param buildId string = 'unknown'

@description('external: reachable from the internet (or, in an internal environment, from the network).')
param external bool = true

param targetPort int = 8000

@description('vCPU per replica, as a string: 0.25 .. 4 (Consumption profile), with memory 2 GiB per vCPU.')
param cpu string = '0.5'
param memory string = '1Gi'

@minValue(2)
param minReplicas int = 2
@minValue(2)
param maxReplicas int = 10

@description('HTTP scale rule: concurrent requests per replica before another is added (open SSE streams count).')
param concurrentRequests int = 50

@description('CPU scale rule: average utilization (percent of the requested CPU) before another replica is added.')
param cpuUtilization int = 70

@description('Seconds between SIGTERM and SIGKILL; the server drains within PRYNAI_SHUTDOWN_GRACE_SECONDS, less.')
@minValue(10)
@maxValue(600)
param terminationGracePeriodSeconds int = 30

@description('The server ends an SSE stream it has held this long (with a retry hint) before the 240 s ingress cut.')
@maxValue(230)
param sseMaxStreamSeconds int = 200

@description('managed: Azure Managed Redis with Entra ID (no password); cache: Azure Cache for Redis with its key.')
@allowed([
  'managed'
  'cache'
])
param redisKind string = 'managed'

@description('managed: the cluster\'s host name (REDIS_URL carries no secret).')
param redisHostName string = ''

@description('cache: the Azure Cache for Redis name; its key is read here, inside Azure, into a secret.')
param redisCacheName string = ''

@description('Optional: an existing Key Vault (RBAC mode, this resource group) to hold the secrets.')
param keyVaultName string = ''

@description('Application Insights component whose connection string the app gets (as a secret).')
param insightsName string

@description('Microsoft Entra ID: tenant, accepted audiences, required roles and scopes, per-tool roles.')
param tenantId string
param audiences string
param requiredAppRoles string = ''
param requiredScopes string = ''
param toolRoles string = ''

@description('Host names the server answers (DNS-rebinding protection): the app\'s name, and a custom domain.')
param allowedHosts string

@description('The URL clients use for /mcp (the front door\'s, a custom domain\'s, or the app\'s own).')
param publicUrl string

param corsAllowOrigins string = ''

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

@description('Optional custom domain, and the id of its certificate in the environment (empty: bind later).')
param customDomainName string = ''
param customDomainCertificateId string = ''

var useVault = !empty(keyVaultName)
var managedRedis = redisKind == 'managed'

// The drain must finish before SIGKILL: leave a few seconds for the process to exit and the last log lines to flush.
var shutdownGraceSeconds = terminationGracePeriodSeconds - 5

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: insightsName
}

resource cache 'Microsoft.Cache/redis@2024-11-01' existing = if (!managedRedis) {
  name: redisCacheName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (useVault) {
  name: keyVaultName
}

// Secret values, computed inside the deployment: nothing secret is a parameter, an output or a command-line argument.
// No loops here: a loop's items (and a variable loop's body) must be known when the deployment starts, and these
// values exist only once it runs.
var insightsConnectionString = insights.properties.ConnectionString
var cacheRedisUrl = managedRedis ? '' : 'rediss://:${cache.listKeys().primaryKey}@${cache.properties.hostName}:6380/0'

// With a vault, the secrets are written there and the app holds references the identity resolves at start-up. (A loop
// over the names, not two conditional resources: checkov reads no property of a resource declared with `if`.)
var secretNames = managedRedis ? ['appinsights-connection-string'] : ['appinsights-connection-string', 'redis-url']

resource vaultSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secretName in secretNames: if (useVault) {
  // checkov:skip=CKV_AZURE_41: every deployment rewrites these secrets from their source (the cache's current key included); an expiry would break the running app between deployments
  parent: vault
  name: '${name}-${secretName}'
  properties: {
    value: secretName == 'redis-url' ? cacheRedisUrl : insightsConnectionString
    contentType: 'text/plain'
  }
}]

// Key Vault Secrets User, a built-in role: read secret values, nothing else.
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useVault) {
  scope: vault
  name: guid(vault.id, identityId, secretsUserRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

var vaultUri = useVault ? vault.properties.vaultUri : ''
var insightsSecret = useVault ? { name: 'appinsights-connection-string', keyVaultUrl: '${vaultUri}secrets/${name}-appinsights-connection-string', identity: identityId } : { name: 'appinsights-connection-string', value: insightsConnectionString }
var redisSecret = useVault ? { name: 'redis-url', keyVaultUrl: '${vaultUri}secrets/${name}-redis-url', identity: identityId } : { name: 'redis-url', value: cacheRedisUrl }
var appSecrets = managedRedis ? [insightsSecret] : [insightsSecret, redisSecret]

var hostEnv = [
  {
    name: 'PRYNAI_HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PRYNAI_PORT'
    value: string(targetPort)
  }
  {
    name: 'PRYNAI_ENV'
    value: 'azure-container-apps'
  }
  {
    name: 'PRYNAI_BUILD'
    value: buildId
  }
  {
    name: 'PRYNAI_LOG_LEVEL'
    value: logLevel
  }
  {
    name: 'PRYNAI_ALLOWED_HOSTS'
    value: allowedHosts
  }
  {
    name: 'PRYNAI_PUBLIC_URL'
    value: publicUrl
  }
  {
    name: 'CORS_ALLOW_ORIGINS'
    value: corsAllowOrigins
  }
  {
    name: 'PRYNAI_SHUTDOWN_GRACE_SECONDS'
    value: string(shutdownGraceSeconds)
  }
  {
    name: 'PRYNAI_SSE_MAX_STREAM_SECONDS'
    value: string(sseMaxStreamSeconds)
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    secretRef: 'appinsights-connection-string'
  }
  // Trace one call in ten (and every call whose client sampled its trace): tracing every call costs CPU and
  // Application Insights ingestion; metrics are not sampled.
  {
    name: 'OTEL_TRACES_SAMPLER'
    value: 'parentbased_traceidratio'
  }
  {
    name: 'OTEL_TRACES_SAMPLER_ARG'
    value: '0.1'
  }
]

var authEnv = [
  {
    name: 'AUTH_REQUIRED'
    value: 'true'
  }
  {
    name: 'ENTRA_TENANT_ID'
    value: tenantId
  }
  {
    name: 'ENTRA_AUDIENCES'
    value: audiences
  }
  {
    name: 'ENTRA_REQUIRED_APP_ROLES'
    value: requiredAppRoles
  }
  {
    name: 'ENTRA_REQUIRED_SCOPES'
    value: requiredScopes
  }
  {
    name: 'PRYNAI_TOOL_ROLES'
    value: toolRoles
  }
]

// Managed Redis: no password anywhere. The server asks the identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER, set
// by the platform) for a token as AZURE_CLIENT_ID, and re-authenticates its connections before the token expires.
var managedRedisEnv = [
  {
    name: 'REDIS_URL'
    value: 'rediss://${redisHostName}:10000/0'
  }
  {
    name: 'PRYNAI_REDIS_AUTH'
    value: 'entra'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
]

// Azure Cache for Redis: the URL carries the key, so it is a secret (rediss://:<key>@<host>:6380/0).
var cacheRedisEnv = [
  {
    name: 'REDIS_URL'
    secretRef: 'redis-url'
  }
]

var containerEnv = concat(hostEnv, authEnv, managedRedis ? managedRedisEnv : cacheRedisEnv)

var customDomains = empty(customDomainName) ? [] : [
  {
    name: customDomainName
    bindingType: empty(customDomainCertificateId) ? 'Disabled' : 'SniEnabled'
    certificateId: empty(customDomainCertificateId) ? null : customDomainCertificateId
  }
]

resource app 'Microsoft.App/containerApps@2025-01-01' = {
  name: name
  location: location
  tags: tags
  dependsOn: [
    vaultAccess
    vaultSecrets
  ]
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      // One revision takes all traffic; a new image rolls replica by replica behind the readiness probe.
      activeRevisionsMode: 'Single'
      maxInactiveRevisions: 5
      ingress: {
        external: external
        targetPort: targetPort
        transport: 'auto'
        allowInsecure: false
        // No affinity: a session roams between replicas through Redis, so none is needed.
        stickySessions: {
          affinity: 'none'
        }
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
        customDomains: customDomains
      }
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: appSecrets
    }
    template: {
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      containers: [
        {
          name: 'prynai-mcp'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: containerEnv
          probes: [
            {
              // Up to 2 + 10 x 3 s for the process to start listening before liveness takes over.
              type: 'Startup'
              httpGet: {
                path: '/livez'
                port: targetPort
                scheme: 'HTTP'
              }
              initialDelaySeconds: 2
              periodSeconds: 3
              timeoutSeconds: 2
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/livez'
                port: targetPort
                scheme: 'HTTP'
              }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
            {
              // 503 while Redis is unreachable or the replica drains: the ingress stops sending it new requests.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: targetPort
                scheme: 'HTTP'
              }
              periodSeconds: 5
              timeoutSeconds: 3
              failureThreshold: 2
              successThreshold: 1
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
          {
            name: 'cpu'
            custom: {
              type: 'cpu'
              metadata: {
                type: 'Utilization'
                value: string(cpuUtilization)
              }
            }
          }
        ]
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output latestRevision string = app.properties.latestRevisionName
