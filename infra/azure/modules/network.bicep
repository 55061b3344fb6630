// The private variant's network: a virtual network with a subnet delegated to the Container Apps environment, one
// for private endpoints (Redis, the registry), one for the registry's build agents, and the private DNS zones that
// make the services' public names resolve to their private endpoints inside it.

param name string
param location string
param tags object

param addressPrefix string = '10.40.0.0/16'

@description('The environment\'s subnet (workload profiles: /27 or larger, delegated to Microsoft.App/environments).')
param environmentSubnetPrefix string = '10.40.0.0/23'

param endpointSubnetPrefix string = '10.40.2.0/24'
param buildSubnetPrefix string = '10.40.3.0/24'

@description('Which Redis the zones are for: managed (privatelink.redis.azure.net) or cache (privatelink.redis.cache.windows.net).')
@allowed([
  'managed'
  'cache'
])
param redisKind string = 'managed'

var redisZone = redisKind == 'managed' ? 'privatelink.redis.azure.net' : 'privatelink.redis.cache.windows.net'
var zoneNames = [
  redisZone
  'privatelink.azurecr.io'
]

// Subnets carry no inbound rule beyond Azure's defaults (traffic within the network, the platform's load balancer).
resource environmentNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-environment'
  location: location
  tags: tags
}

resource endpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-endpoints'
  location: location
  tags: tags
}

resource buildNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-build'
  location: location
  tags: tags
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${name}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-environment'
        properties: {
          addressPrefix: environmentSubnetPrefix
          networkSecurityGroup: {
            id: environmentNsg.id
          }
          delegations: [
            {
              name: 'containerapps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          networkSecurityGroup: {
            id: endpointNsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: 'snet-build'
        properties: {
          addressPrefix: buildSubnetPrefix
          networkSecurityGroup: {
            id: buildNsg.id
          }
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zone in zoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in zoneNames: {
  parent: zones[i]
  name: 'link-${name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

output vnetId string = vnet.id
output environmentSubnetId string = vnet.properties.subnets[0].id
output endpointSubnetId string = vnet.properties.subnets[1].id
output buildSubnetId string = vnet.properties.subnets[2].id
output redisZoneId string = zones[0].id
output registryZoneId string = zones[1].id
