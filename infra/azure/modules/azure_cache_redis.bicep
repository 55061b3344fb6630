// Azure Cache for Redis (Microsoft.Cache/redis): the user's original choice, kept as a parameter for existing
// deployments. It is retiring (Basic, Standard and Premium on 2028-09-30; its Enterprise tiers on 2027-03-31):
// new deployments use managed_redis.bicep. TLS only, on 6380; the app authenticates with the access key, which never
// leaves Azure: container_app.bicep reads it with listKeys() into a secret (or a Key Vault secret).

param name string
param location string
param tags object

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Standard has a replica and an SLA; Basic has neither.')
param sku string = 'Standard'

@description('Cache size: 0 (250 MB) .. 6 (53 GB) for C (Basic/Standard), 1 .. 5 for P (Premium).')
param capacity int = 1

param workspaceId string

@description('Private variant: public network access off, reached through a private endpoint.')
param privateNetworking bool = false

param endpointSubnetId string = ''

@description('Private variant: the privatelink.redis.cache.windows.net zone.')
param dnsZoneId string = ''

resource cache 'Microsoft.Cache/redis@2024-11-01' = {
  // checkov:skip=CKV_AZURE_89: the public variant reaches the cache over TLS with its key; the private variant (privateNetworking) turns public access off, which the project's own check enforces
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: sku
      family: sku == 'Premium' ? 'P' : 'C'
      capacity: capacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    redisVersion: '6'
    redisConfiguration: {
      'maxmemory-policy': 'noeviction'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: cache
  name: 'to-log-analytics'
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
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
    serviceId: cache.id
    groupId: 'redisCache'
    dnsZoneId: dnsZoneId
  }
}

output name string = cache.name
output hostName string = cache.properties.hostName
output port int = 6380
