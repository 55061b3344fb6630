// The Container Apps environment: where replicas run, and where their console output (the server's JSON log lines)
// is sent, to the Log Analytics workspace. A workload-profiles environment on the Consumption profile; in the private
// variant it sits in the delegated subnet, internal (reachable from the network only) or external as chosen.

param name string
param location string
param tags object

@description('Log Analytics workspace that receives the apps\' console and system logs.')
param workspaceName string

param privateNetworking bool = false

@description('Private variant: the subnet delegated to Microsoft.App/environments.')
param subnetId string = ''

@description('Private variant: true for an internal load balancer only (no public address at all).')
param internal bool = false

@description('Private variant: the network in which the environment\'s private DNS zone is linked (internal only).')
param vnetId string = ''

@description('Spread replicas over availability zones (needs the private variant\'s subnet).')
param zoneRedundant bool = false

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource managedEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: 'cae-${name}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    vnetConfiguration: privateNetworking ? { infrastructureSubnetId: subnetId, internal: internal } : null
    zoneRedundant: privateNetworking && zoneRedundant
    peerTrafficConfiguration: {
      encryption: {
        enabled: true
      }
    }
  }
}

// An internal environment has no public DNS: its apps' names resolve through a private zone inside the network. The
// zone is named after the environment's domain, known only once it exists: a module takes it as a parameter.
module internalDns 'environment_dns.bicep' = if (privateNetworking && internal) {
  name: 'environment-dns'
  params: {
    name: name
    tags: tags
    domain: managedEnvironment.properties.defaultDomain
    staticIp: managedEnvironment.properties.staticIp
    vnetId: vnetId
  }
}

output id string = managedEnvironment.id
output name string = managedEnvironment.name
@description('Apps are reached at <app>.<defaultDomain>.')
output defaultDomain string = managedEnvironment.properties.defaultDomain
