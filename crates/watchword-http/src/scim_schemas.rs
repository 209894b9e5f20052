//! What the SCIM endpoint tells an IdP about itself (RFC 7643 §5–7): the features it supports
//! and the attributes it keeps — only those, so a client never sends what would not be applied.

use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": 200 },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "SCIM token",
            "description": "The account's SCIM token, sent as Authorization: Bearer",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none",
    })
}

fn with(mut a: Value, extra: Value) -> Value {
    if let (Some(o), Value::Object(e)) = (a.as_object_mut(), extra) {
        o.extend(e);
    }
    a
}

fn schema(base: &str, id: &str, name: &str, description: &str, attributes: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id, "name": name, "description": description, "attributes": attributes,
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    let name = with(
        attr("name", "complex", "The member's name"),
        json!({ "subAttributes": [
            attr("formatted", "string", "The full name"),
            attr("familyName", "string", "Family name"),
            attr("givenName", "string", "Given name"),
        ]}),
    );
    let emails = with(
        attr(
            "emails",
            "complex",
            "Email addresses; the login email is userName",
        ),
        json!({ "multiValued": true, "subAttributes": [
            attr("value", "string", "The address"),
            with(attr("type", "string", "work, home or other"), json!({ "canonicalValues": ["work", "home", "other"] })),
            attr("primary", "boolean", "The primary address"),
        ]}),
    );
    let groups = with(
        attr(
            "groups",
            "complex",
            "The groups the member is in (set through Groups)",
        ),
        json!({ "multiValued": true, "mutability": "readOnly", "subAttributes": [
            with(attr("value", "string", "The group's id"), json!({ "mutability": "readOnly" })),
            with(attr("display", "string", "The group's name"), json!({ "mutability": "readOnly" })),
            with(attr("$ref", "reference", "The group's URI"), json!({ "mutability": "readOnly", "referenceTypes": ["Group"] })),
        ]}),
    );
    let user = schema(
        base,
        USER,
        "User",
        "A member of the account",
        vec![
            with(
                attr(
                    "userName",
                    "string",
                    "The member's login email, in one of the account's verified domains",
                ),
                json!({ "required": true, "uniqueness": "server" }),
            ),
            name,
            attr("displayName", "string", "The name shown for the member"),
            attr("title", "string", "Job title"),
            // Always present: the membership's switch (absent on a create means true).
            with(
                attr(
                    "active",
                    "boolean",
                    "false suspends the membership; an Owner's deactivation is never undone",
                ),
                json!({ "required": true }),
            ),
            emails,
            groups,
        ],
    );
    let manager = with(
        attr("manager", "complex", "The member's manager"),
        json!({ "subAttributes": [
            attr("value", "string", "The manager's id"),
            with(attr("displayName", "string", "The manager's name"), json!({ "mutability": "readOnly" })),
        ]}),
    );
    let enterprise = schema(
        base,
        ENTERPRISE,
        "EnterpriseUser",
        "Enterprise attributes",
        vec![
            attr("employeeNumber", "string", "Employee number"),
            attr("costCenter", "string", "Cost center"),
            attr("organization", "string", "Organization"),
            attr("division", "string", "Division"),
            attr("department", "string", "Department"),
            manager,
        ],
    );
    let members = with(
        attr("members", "complex", "The group's members"),
        json!({ "multiValued": true, "subAttributes": [
            with(attr("value", "string", "A User's id"), json!({ "mutability": "immutable" })),
            with(attr("type", "string", "User"), json!({ "mutability": "immutable", "canonicalValues": ["User"] })),
            with(attr("$ref", "reference", "The User's URI"), json!({ "mutability": "immutable", "referenceTypes": ["User"] })),
        ]}),
    );
    let group = schema(
        base,
        GROUP,
        "Group",
        "A group of the IdP; grants a role only through the SSO connection's mappings",
        vec![
            with(
                attr(
                    "displayName",
                    "string",
                    "The group's name, unique in the account",
                ),
                json!({ "required": true, "uniqueness": "server" }),
            ),
            members,
        ],
    );
    vec![user, enterprise, group]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User", "name": "User", "endpoint": "/Users", "description": "Members of the account",
        "schema": USER,
        "schemaExtensions": [{ "schema": ENTERPRISE, "required": false }],
        "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "The IdP's groups",
            "schema": GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}
