//! `POST /.search` (RFC 7644 §3.4.3): a query in the body, on one resource type or across Users
//! and Groups at once.

use super::json::{LIST_SCHEMA, ListQuery};
use super::{Resource, ScimCaller, ScimError};
use crate::App;
use serde::Deserialize;
use serde_json::{Value, json};
use watchword_domain::AccountId;

/// A SearchRequest body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    pub attributes: Option<Vec<String>>,
    pub excluded_attributes: Option<Vec<String>>,
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
}

impl SearchRequest {
    /// The same query as `GET` parameters.
    pub fn query(self) -> ListQuery {
        ListQuery {
            filter: self.filter,
            start_index: self.start_index,
            count: self.count,
            attributes: self.attributes.map(|a| a.join(",")),
            excluded_attributes: self.excluded_attributes.map(|a| a.join(",")),
        }
    }
}

fn empty() -> Value {
    json!({ "totalResults": 0, "Resources": [] })
}

impl App {
    /// One resource type's list, or Users first, then Groups, paged as one list.
    pub async fn scim_search(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        what: Option<Resource>,
        q: ListQuery,
    ) -> Result<Value, ScimError> {
        if let Some(r) = what {
            return self.scim_list(r, caller, account, &q).await;
        }
        if let Some(f) = q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            super::json::parse_filter(f)?;
        }
        let (start, count) = q.page();
        // A filter on attributes a User does not have matches no User.
        let users = match self.scim_list_users(caller, account, &q).await {
            Ok(v) => v,
            Err(e) if e.scim_type == Some("invalidFilter") => empty(),
            Err(e) => return Err(e),
        };
        let users_total = users["totalResults"].as_i64().unwrap_or(0);
        let mut resources = users["Resources"].as_array().cloned().unwrap_or_default();
        let groups_q = ListQuery {
            start_index: Some((start - users_total).max(1)),
            count: Some(count - resources.len() as i64),
            ..q
        };
        let groups = self.scim_list_groups(caller, account, &groups_q).await?;
        let groups_total = groups["totalResults"].as_i64().unwrap_or(0);
        resources.extend(groups["Resources"].as_array().cloned().unwrap_or_default());
        Ok(json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": users_total + groups_total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }))
    }
}
