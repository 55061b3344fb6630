// Optional API Management front door, keeping /mcp (and the OAuth metadata and health paths) at the same paths.
// Streams pass through unbuffered: forward-request buffer-response="false", no response caching, and no request or
// response body logging (an API diagnostic that logs bodies would buffer them). The Consumption tier cannot hold
// long-running connections, so it is not offered. Tokens are still checked by the server, not here.

param name string
param location string
param tags object

@allowed([
  'BasicV2'
  'StandardV2'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'BasicV2'

param publisherEmail string
param publisherName string = 'PrynAI MCP'

@description('The Container App\'s own https URL (no path).')
param backendUrl string

// On one line: the checks' Bicep parsers (tree-sitter-bicep, checkov's) do not read multi-line strings reliably.
var policy = '<policies><inbound><base /></inbound><backend><forward-request timeout="240" fail-on-error-status-code="false" buffer-response="false" /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>'

var operations = [
  {
    name: 'mcp-post'
    method: 'POST'
    urlTemplate: '/mcp'
  }
  {
    name: 'mcp-get'
    method: 'GET'
    urlTemplate: '/mcp'
  }
  {
    name: 'mcp-delete'
    method: 'DELETE'
    urlTemplate: '/mcp'
  }
  {
    name: 'protected-resource-metadata'
    method: 'GET'
    urlTemplate: '/.well-known/oauth-protected-resource/mcp'
  }
  {
    name: 'healthz'
    method: 'GET'
    urlTemplate: '/healthz'
  }
]

resource service 'Microsoft.ApiManagement/service@2024-05-01' = {
  // checkov:skip=CKV_AZURE_107: the front door is the public entry point by design; its backend is the app's HTTPS ingress, and virtual network injection needs the Premium or StandardV2 tier
  // checkov:skip=CKV_AZURE_174: public access is the front door's purpose; tokens are still verified by the server behind it
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: 1
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
    customProperties: {
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30': 'false'
    }
  }
}

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: service
  name: 'prynai-mcp'
  properties: {
    displayName: 'PrynAI MCP'
    // Empty suffix: the gateway's /mcp is the server's /mcp, so the RFC 9728 metadata path stays where clients look.
    path: ''
    protocols: [
      'https'
    ]
    serviceUrl: backendUrl
    subscriptionRequired: false
    apiType: 'http'
  }
}

resource apiOperations 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' = [for operation in operations: {
  parent: api
  name: operation.name
  properties: {
    displayName: operation.name
    method: operation.method
    urlTemplate: operation.urlTemplate
  }
}]

resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: policy
  }
}

output gatewayUrl string = service.properties.gatewayUrl
