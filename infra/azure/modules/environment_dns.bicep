// The private DNS zone of an internal Container Apps environment: <domain> with a wildcard record to the environment's
// internal address, linked to the network, so <app>.<domain> resolves there.

param name string
param tags object

@description('The environment\'s default domain (the zone\'s name).')
param domain string

@description('The environment\'s internal load balancer address.')
param staticIp string

param vnetId string

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: domain
  location: 'global'
  tags: tags
}

resource wildcard 'Microsoft.Network/privateDnsZones/A@2024-06-01' = {
  parent: zone
  name: '*'
  properties: {
    ttl: 300
    aRecords: [
      {
        ipv4Address: staticIp
      }
    ]
  }
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: 'link-${name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}
