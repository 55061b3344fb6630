// One private endpoint for one service, registered in its private DNS zone, so the service's public name resolves
// to a private address inside the virtual network.

param name string
param location string
param tags object

@description('Subnet that holds the endpoint\'s network interface.')
param subnetId string

@description('Resource id of the service behind the endpoint.')
param serviceId string

@description('Sub-resource of the service: redisEnterprise, redisCache, registry, vault.')
param groupId string

@description('Private DNS zone of that sub-resource (e.g. privatelink.redis.azure.net), linked to the network.')
param dnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-${name}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'pe-${name}'
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: dnsZoneId
        }
      }
    ]
  }
}
