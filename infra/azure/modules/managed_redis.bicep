// Azure Managed Redis (Microsoft.Cache/redisEnterprise), the default shared state of every replica. TLS only, on
// port 10000; access keys are disabled, so the only way in is Microsoft Entra ID: the app's managed identity holds
// the database's access-policy assignment, and the server authenticates with a token for https://redis.azure.com.
// Not clustered by default: one shard answers every key, so the server's multi-key Lua scripts work as on any Redis.
// (EnterpriseCluster also gives one endpoint, but refuses a script whose keys fall in different hash slots.)

@description('Cluster name: letters, digits and hyphens.')
param name string

param location string
param tags object

@description('Size: Balanced_B0 (0.5 GB) .. Balanced_B1000; MemoryOptimized_* and ComputeOptimized_* also exist.')
param sku string = 'Balanced_B1'

@description('Replicate the data set across two nodes (the SLA needs it).')
param highAvailability bool = true

@description('Append-only-file persistence, so a Redis restart loses no session.')
param persistence bool = true

@description('NoCluster (sizes up to 25 GB; can be changed to a cluster later) or EnterpriseCluster (keys used together must share a hash slot).')
@allowed([
  'NoCluster'
  'EnterpriseCluster'
])
param clusteringPolicy string = 'NoCluster'

@description('Object id of the identity given data access (the app\'s).')
param principalId string

@description('Log Analytics workspace for connection events and metrics.')
param workspaceId string

@description('Private variant: public network access off, reached through a private endpoint.')
param privateNetworking bool = false

param endpointSubnetId string = ''

@description('Private variant: the privatelink.redis.azure.net zone.')
param dnsZoneId string = ''

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: highAvailability ? 'Enabled' : 'Disabled'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: clusteringPolicy
    // Sessions and the event log must never be evicted to make room: a full Redis refuses writes instead.
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
    persistence: persistence ? { aofEnabled: true, aofFrequency: '1s' } : { aofEnabled: false }
  }
}

// The ACL user is the identity's object id; the policy "default" is full data access (no admin commands).
resource appAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: 'app'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: principalId
    }
  }
}

resource databaseDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: database
  name: 'to-log-analytics'
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'ConnectionEvents'
        enabled: true
      }
    ]
  }
}

resource clusterDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: cluster
  name: 'to-log-analytics'
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

module endpoint 'private_endpoint.bicep' = if (privateNetworking) {
  name: 'pe-redis'
  params: {
    name: name
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: cluster.id
    groupId: 'redisEnterprise'
    dnsZoneId: dnsZoneId
  }
}

output hostName string = cluster.properties.hostName
output port int = 10000
@description('What REDIS_URL is set to: TLS, no password (the server authenticates with Entra ID).')
output url string = 'rediss://${cluster.properties.hostName}:10000/0'
