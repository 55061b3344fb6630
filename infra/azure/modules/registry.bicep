// The container registry. Images are built in it (`az acr build`), so no local Docker is needed; the admin user is
// off, and the app pulls with its managed identity (AcrPull), never with a password.

@description('Registry name: 5-50 letters and digits, globally unique.')
param name string

param location string
param tags object

@description('Basic is enough for one app; the private variant needs Premium (private endpoints, agent pools).')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Basic'

@description('Object id of the identity that pulls images (the app\'s).')
param pullPrincipalId string

@description('Private variant: public network access off, reached through a private endpoint.')
param privateNetworking bool = false

@description('Private variant: subnet for the registry\'s private endpoint.')
param endpointSubnetId string = ''

@description('Private variant: the privatelink.azurecr.io zone.')
param dnsZoneId string = ''

@description('Private variant: subnet of the build agent pool (a public build agent cannot push to a private registry).')
param agentSubnetId string = ''

// AcrPull, a built-in role: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var effectiveSku = privateNetworking ? 'Premium' : sku

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: the public variant pushes from ACR Tasks and pulls over the internet; the private variant (privateNetworking) turns public access off, which the project's own check enforces
  // checkov:skip=CKV_AZURE_166: quarantine holds every pushed image until a scanner releases it; no scanner is deployed
  // checkov:skip=CKV_AZURE_163: image scanning is Microsoft Defender for Containers, a subscription-level plan, not a registry property
  name: name
  location: location
  tags: tags
  sku: {
    name: effectiveSku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkRuleBypassOptions: 'AzureServices'
  }
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, pullPrincipalId, acrPullRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: pullPrincipalId
    principalType: 'ServicePrincipal'
  }
}

module endpoint 'private_endpoint.bicep' = if (privateNetworking) {
  name: 'pe-registry'
  params: {
    name: name
    location: location
    tags: tags
    subnetId: endpointSubnetId
    serviceId: registry.id
    groupId: 'registry'
    dnsZoneId: dnsZoneId
  }
}

// With public access off, `az acr build` must run on an agent inside the network: a dedicated agent pool.
resource agentPool 'Microsoft.ContainerRegistry/registries/agentPools@2019-06-01-preview' = if (privateNetworking) {
  parent: registry
  name: 'build'
  location: location
  tags: tags
  properties: {
    count: 1
    tier: 'S1'
    os: 'Linux'
    virtualNetworkSubnetResourceId: agentSubnetId
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
output agentPool string = privateNetworking ? agentPool.name : ''
