// The app's user-assigned managed identity. It exists before the Container App does, so its AcrPull grant on the
// registry and its Redis access policy are in place when the first replica pulls the image and connects.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}'
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
@description('Object id: what role assignments and the Redis access policy name (and Redis sees as the ACL user).')
output principalId string = identity.properties.principalId
@description('Client id: what the server passes to the token endpoint (AZURE_CLIENT_ID).')
output clientId string = identity.properties.clientId
