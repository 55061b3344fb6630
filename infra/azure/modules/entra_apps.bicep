extension microsoftGraphV1

// Optional: the two Microsoft Entra ID app registrations of the user's set-up, through the Microsoft Graph extension
// for Bicep (bicepconfig.json names it). The deploying user needs Application.ReadWrite.All (or the Application
// Developer role) and, for the role grant, AppRoleAssignment.ReadWrite.All.
// - server app: the API, with App ID URI api://<tenant>/<name> (a template cannot know its own appId beforehand),
//   app roles Mcp.Invoke and Mcp.Write for services, a delegated scope Mcp.Invoke for people; v2 access tokens;
// - client app: a service (e.g. a LangGraph agent) granted Mcp.Invoke, admin consent included (the role assignment).
// A client secret cannot be created by a template; `az ad app credential reset --id <client app id>` makes one.

param name string

var appIdUri = 'api://${tenant().tenantId}/${name}'
var invokeRoleId = guid(name, 'app-role', 'Mcp.Invoke')
var writeRoleId = guid(name, 'app-role', 'Mcp.Write')
var invokeScopeId = guid(name, 'scope', 'Mcp.Invoke')

resource server 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: '${name}-server'
  displayName: '${name} (server)'
  signInAudience: 'AzureADMyOrg'
  identifierUris: [
    appIdUri
  ]
  api: {
    // The server accepts v2 tokens (issuer <authority>/<tenant>/v2.0) unless ENTRA_ACCEPT_V1_TOKENS is set.
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: invokeScopeId
        value: 'Mcp.Invoke'
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Call PrynAI MCP'
        adminConsentDescription: 'Call the PrynAI MCP server as the signed-in user.'
        userConsentDisplayName: 'Call PrynAI MCP'
        userConsentDescription: 'Call the PrynAI MCP server as you.'
      }
    ]
  }
  appRoles: [
    {
      id: invokeRoleId
      value: 'Mcp.Invoke'
      displayName: 'Call PrynAI MCP'
      description: 'Services holding this role may call the PrynAI MCP server.'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
    {
      id: writeRoleId
      value: 'Mcp.Write'
      displayName: 'Change PrynAI MCP state'
      description: 'Services holding this role may call the tools that change state (PRYNAI_TOOL_ROLES).'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
  ]
}

resource serverPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: server.appId
}

resource client 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: '${name}-client'
  displayName: '${name} (client)'
  signInAudience: 'AzureADMyOrg'
  requiredResourceAccess: [
    {
      resourceAppId: server.appId
      resourceAccess: [
        {
          id: invokeRoleId
          type: 'Role'
        }
      ]
    }
  ]
}

resource clientPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: client.appId
}

// Admin consent for the application permission: the client's service principal holds the server's app role.
resource invokeGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: invokeRoleId
  principalId: clientPrincipal.id
  resourceId: serverPrincipal.id
}

@description('SERVER_APP_ID: the server app\'s Application (client) ID, and an accepted audience.')
output serverAppId string = server.appId
@description('SERVER_APP_ID_URI: what clients ask a token for (<uri>/.default).')
output serverAppIdUri string = appIdUri
@description('ENTRA_CLIENT_ID: the service client; make its secret with az ad app credential reset.')
output clientAppId string = client.appId
