//! SCIM's JSON: list queries and their filters, PATCH applied to a resource's document, and
//! `attributes` / `excludedAttributes` projection. Filters and paths are parsed by `scim_v2`.

use super::ScimError;
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValFilter};
use serde::Deserialize;
use serde_json::{Map, Value};
use watchword_domain::Millis;
use watchword_store::scim::{Cond, Op, UserField, Value as SqlValue};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Entra ID's group extension, kept as sent.
pub const ADSCIM_GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:ADSCIM:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The most resources one page holds.
pub const MAX_COUNT: i64 = 200;

/// `GET /Users` and `GET /Groups` parameters.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ListQuery {
    /// 1-based start and page size, clamped as RFC 7644 §3.4.2.4 asks.
    pub fn page(&self) -> (i64, i64) {
        let start = self.start_index.unwrap_or(1).max(1);
        let count = self.count.unwrap_or(100).clamp(0, MAX_COUNT);
        (start, count)
    }
}

pub(crate) fn invalid_filter(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, Some("invalidFilter"), detail)
}

/// Parses a filter (`400 invalidFilter` when malformed).
pub(crate) fn parse_filter(s: &str) -> Result<Filter, ScimError> {
    s.parse::<Filter>()
        .map_err(|e| invalid_filter(format!("the filter is not valid: {e}")))
}

/// Whether a path's schema URI, if any, is `schema` (or the User's extension for users).
fn core_uri(p: &AttrPath, schemas: &[&str]) -> bool {
    p.uri
        .as_deref()
        .is_none_or(|u| schemas.iter().any(|s| s.eq_ignore_ascii_case(u)))
}

/// A user filter as SQL conditions: `userName`, `externalId`, `emails.value`, `displayName`,
/// `active`, `meta.lastModified` (and `id`).
pub(crate) fn user_cond(f: &Filter) -> Result<Cond, ScimError> {
    Ok(match f {
        Filter::Attr(a) => user_attr(a)?,
        Filter::ValuePath(vp) => {
            // emails[value eq "…"]: the one email a member has.
            if !vp.attr.name.eq_ignore_ascii_case("emails") {
                return Err(invalid_filter(format!("cannot filter on {}", vp.attr)));
            }
            match &*vp.filter {
                ValFilter::Attr(AttrExp::Comparison(p, op, v))
                    if p.name.eq_ignore_ascii_case("value") =>
                {
                    cmp(UserField::UserName, op, v)?
                }
                ValFilter::Attr(AttrExp::Present(p)) if p.name.eq_ignore_ascii_case("value") => {
                    Cond::Present(UserField::UserName)
                }
                _ => return Err(invalid_filter("emails[…] filters on value only")),
            }
        }
        Filter::Not(x) => Cond::Not(Box::new(user_cond(x)?)),
        Filter::And(xs) => Cond::And(xs.iter().map(user_cond).collect::<Result<_, _>>()?),
        Filter::Or(xs) => Cond::Or(xs.iter().map(user_cond).collect::<Result<_, _>>()?),
    })
}

fn user_field(p: &AttrPath) -> Result<UserField, ScimError> {
    if !core_uri(p, &[USER_SCHEMA]) {
        return Err(invalid_filter(format!("cannot filter on {p}")));
    }
    let name = p.name.to_ascii_lowercase();
    let sub = p.sub_attr.as_deref().map(str::to_ascii_lowercase);
    Ok(match (name.as_str(), sub.as_deref()) {
        ("username", None) => UserField::UserName,
        ("externalid", None) => UserField::ExternalId,
        ("displayname", None) => UserField::DisplayName,
        ("active", None) => UserField::Active,
        ("emails", None | Some("value")) => UserField::UserName,
        ("meta", Some("lastmodified")) => UserField::LastModified,
        ("id", None) => UserField::Id,
        _ => return Err(invalid_filter(format!("cannot filter on {p}"))),
    })
}

fn user_attr(a: &AttrExp) -> Result<Cond, ScimError> {
    match a {
        AttrExp::Present(p) => Ok(Cond::Present(user_field(p)?)),
        AttrExp::Comparison(p, op, v) => cmp(user_field(p)?, op, v),
    }
}

fn cmp(field: UserField, op: &CompareOp, v: &CompValue) -> Result<Cond, ScimError> {
    let op = match op {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    };
    let value = match (field, v) {
        (UserField::Active, CompValue::True) => SqlValue::Int(1),
        (UserField::Active, CompValue::False) => SqlValue::Int(0),
        (UserField::Active, _) => return Err(invalid_filter("active compares with true or false")),
        (UserField::LastModified, CompValue::Str(s)) => SqlValue::Int(
            Millis::parse_rfc3339(s)
                .ok_or_else(|| invalid_filter("meta.lastModified compares with a date-time"))?
                .0,
        ),
        (UserField::LastModified, _) => {
            return Err(invalid_filter(
                "meta.lastModified compares with a date-time",
            ));
        }
        (_, CompValue::Str(s)) => SqlValue::Text(s.clone()),
        (_, CompValue::Null) if op == Op::Eq => {
            return Ok(Cond::Not(Box::new(Cond::Present(field))));
        }
        (_, CompValue::Null) if op == Op::Ne => return Ok(Cond::Present(field)),
        _ => {
            return Err(invalid_filter(format!(
                "{v} is not a value for this attribute"
            )));
        }
    };
    if matches!(field, UserField::Active) && !matches!(op, Op::Eq | Op::Ne) {
        return Err(invalid_filter("active compares with eq or ne"));
    }
    Ok(Cond::Cmp(field, op, value))
}

/// Whether a resource's document matches a filter (for the few resources filtered in memory:
/// an account's groups).
pub(crate) fn doc_matches(doc: &Value, f: &Filter, schemas: &[&str]) -> bool {
    match f {
        Filter::Attr(AttrExp::Present(p)) => values_at(doc, p, schemas)
            .iter()
            .any(|v| !v.is_null() && v.as_str() != Some("")),
        Filter::Attr(AttrExp::Comparison(p, op, want)) => {
            let have = values_at(doc, p, schemas);
            if have.is_empty() {
                return matches!(op, CompareOp::Ne);
            }
            have.iter().any(|h| compare(h, op, want))
        }
        Filter::ValuePath(vp) => values_at(doc, &vp.attr, schemas)
            .iter()
            .any(|e| element_matches(e, &vp.filter)),
        Filter::Not(x) => !doc_matches(doc, x, schemas),
        Filter::And(xs) => xs.iter().all(|x| doc_matches(doc, x, schemas)),
        Filter::Or(xs) => xs.iter().any(|x| doc_matches(doc, x, schemas)),
    }
}

/// The values an attribute path names in a document (each element of a multi-valued one).
fn values_at<'a>(doc: &'a Value, p: &AttrPath, schemas: &[&str]) -> Vec<&'a Value> {
    let container = match p.uri.as_deref() {
        Some(u) if !schemas.first().is_some_and(|s| s.eq_ignore_ascii_case(u)) => {
            match get_ci(doc, u) {
                Some(c) => c,
                None => return Vec::new(),
            }
        }
        _ => doc,
    };
    let Some(v) = get_ci(container, &p.name) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &p.sub_attr {
        None => items,
        Some(sub) => items.into_iter().filter_map(|i| get_ci(i, sub)).collect(),
    }
}

/// Whether a JSON value (an element of a multi-valued attribute) matches a `[…]` filter.
pub(crate) fn element_matches(elem: &Value, f: &ValFilter) -> bool {
    match f {
        ValFilter::Attr(AttrExp::Present(p)) => get_ci(elem, &p.name).is_some_and(|v| !v.is_null()),
        ValFilter::Attr(AttrExp::Comparison(p, op, want)) => {
            let Some(have) = get_ci(elem, &p.name) else {
                return matches!(op, CompareOp::Ne);
            };
            compare(have, op, want)
        }
        ValFilter::Not(x) => !element_matches(elem, x),
        ValFilter::And(xs) => xs.iter().all(|x| element_matches(elem, x)),
        ValFilter::Or(xs) => xs.iter().any(|x| element_matches(elem, x)),
    }
}

fn compare(have: &Value, op: &CompareOp, want: &CompValue) -> bool {
    let (h, w) = match (have, want) {
        (Value::String(h), CompValue::Str(w)) => (h.to_lowercase(), w.to_lowercase()),
        (Value::Bool(h), CompValue::True) => return (*h) == matches!(op, CompareOp::Eq),
        (Value::Bool(h), CompValue::False) => return (!*h) == matches!(op, CompareOp::Eq),
        (Value::Number(h), CompValue::Number(w)) => (h.to_string(), w.to_string()),
        _ => return matches!(op, CompareOp::Ne),
    };
    match op {
        CompareOp::Eq => h == w,
        CompareOp::Ne => h != w,
        CompareOp::Co => h.contains(&w),
        CompareOp::Sw => h.starts_with(&w),
        CompareOp::Ew => h.ends_with(&w),
        CompareOp::Gt => h > w,
        CompareOp::Ge => h >= w,
        CompareOp::Lt => h < w,
        CompareOp::Le => h <= w,
    }
}

/// An object's member by name, without regard to case (SCIM attribute names).
pub(crate) fn get_ci<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn key_ci(m: &Map<String, Value>, name: &str) -> String {
    m.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

/// A PATCH request body (RFC 7644 §3.5.2).
#[derive(Debug, Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOp>,
}

#[derive(Debug, Deserialize)]
pub struct PatchOp {
    pub op: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, Some("invalidPath"), detail)
}

/// Applies a PATCH to a resource's document (`schemas` are the resource's own: a path qualified
/// by one of them points at the root, an extension's URN at its object). The caller validates
/// and stores the result like a PUT, so an operation is applied wholly or the request fails.
pub(crate) fn apply_patch(
    doc: &mut Value,
    req: &PatchRequest,
    schemas: &[&str],
) -> Result<(), ScimError> {
    if !req.schemas.iter().any(|s| s == PATCH_SCHEMA) {
        return Err(ScimError::new(
            400,
            Some("invalidSyntax"),
            format!("a PATCH names the schema {PATCH_SCHEMA}"),
        ));
    }
    if req.operations.is_empty() {
        return Err(ScimError::new(400, Some("invalidSyntax"), "no Operations"));
    }
    for op in &req.operations {
        let kind = match op.op.to_ascii_lowercase().as_str() {
            "add" => Kind::Add,
            "replace" => Kind::Replace,
            "remove" => Kind::Remove,
            other => {
                return Err(ScimError::new(
                    400,
                    Some("invalidSyntax"),
                    format!("unknown op {other:?}"),
                ));
            }
        };
        match (&op.path, kind) {
            (None, Kind::Remove) => {
                return Err(ScimError::new(400, Some("noTarget"), "remove needs a path"));
            }
            (None, _) => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path carries an object of attributes",
                    ));
                };
                for (k, v) in values {
                    let is_extension = schemas.iter().skip(1).any(|s| s.eq_ignore_ascii_case(k));
                    if is_extension {
                        let Value::Object(inner) = v else {
                            return Err(ScimError::invalid_value(format!("{k} is an object")));
                        };
                        for (ik, iv) in inner {
                            let path = format!("{k}:{ik}");
                            apply_path(doc, &path, kind, Some(iv), schemas)?;
                        }
                    } else {
                        apply_path(doc, k, kind, Some(v), schemas)?;
                    }
                }
            }
            (Some(path), _) => apply_path(doc, path, kind, op.value.as_ref(), schemas)?,
        }
    }
    Ok(())
}

fn apply_path(
    doc: &mut Value,
    path: &str,
    kind: Kind,
    value: Option<&Value>,
    schemas: &[&str],
) -> Result<(), ScimError> {
    // The path names a whole extension (its URN alone).
    if let Some(ext) = schemas
        .iter()
        .skip(1)
        .find(|s| s.eq_ignore_ascii_case(path))
    {
        let root = doc
            .as_object_mut()
            .ok_or_else(|| ScimError::new(500, None, "resource is not an object"))?;
        let k = key_ci(root, ext);
        match (kind, value) {
            (Kind::Remove, _) => {
                root.remove(&k);
            }
            (_, Some(Value::Object(more))) => {
                let target = root.entry(k).or_insert_with(|| Value::Object(Map::new()));
                if kind == Kind::Replace || !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                let obj = target.as_object_mut().expect("an object");
                for (ik, iv) in more {
                    if ik != "schemas" {
                        let ik = key_ci(obj, ik);
                        obj.insert(ik, iv.clone());
                    }
                }
            }
            _ => return Err(ScimError::invalid_value(format!("{path} takes an object"))),
        }
        return Ok(());
    }
    let parsed: PatchPath = path
        .parse()
        .map_err(|e| invalid_path(format!("the path {path:?} is not valid: {e}")))?;
    let attr = match &parsed {
        PatchPath::Attr(a) => a,
        PatchPath::Value(v) => &v.attr,
    };
    let root = doc
        .as_object_mut()
        .ok_or_else(|| ScimError::new(500, None, "resource is not an object"))?;
    // The object the attribute lives in: the resource, or an extension's.
    let container: &mut Map<String, Value> = match attr.uri.as_deref() {
        None => root,
        Some(u) if schemas.first().is_some_and(|s| s.eq_ignore_ascii_case(u)) => root,
        Some(u) if schemas.iter().any(|s| s.eq_ignore_ascii_case(u)) => {
            let k = key_ci(root, u);
            let ext = root.entry(k).or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut().expect("an object")
        }
        Some(u) => return Err(invalid_path(format!("unknown schema {u}"))),
    };
    let name = key_ci(container, &attr.name);
    if value.is_none() && kind != Kind::Remove {
        return Err(ScimError::invalid_value(format!("{path}: no value")));
    }
    match parsed {
        PatchPath::Attr(a) => match (&a.sub_attr, kind) {
            (None, Kind::Remove) => match (container.get_mut(&name), value) {
                // Entra removes group members by value: {"op":"remove","path":"members","value":[{"value":"…"}]}
                (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                    let ids: Vec<&Value> = gone.iter().filter_map(|g| get_ci(g, "value")).collect();
                    items.retain(|i| get_ci(i, "value").is_none_or(|v| !ids.contains(&v)));
                }
                _ => {
                    container.remove(&name);
                }
            },
            (None, Kind::Add) => {
                let v = value.cloned().unwrap_or(Value::Null);
                match (container.get_mut(&name), v) {
                    (Some(Value::Array(items)), Value::Array(more)) => {
                        for m in more {
                            // A new primary value makes the others not primary (RFC 7644 §3.5.2).
                            if get_ci(&m, "primary") == Some(&Value::Bool(true)) {
                                for i in items.iter_mut() {
                                    if let Value::Object(o) = i {
                                        o.retain(|k, _| !k.eq_ignore_ascii_case("primary"));
                                    }
                                }
                            }
                            let id = get_ci(&m, "value").cloned();
                            let dup = id.is_some()
                                && items.iter().any(|i| get_ci(i, "value") == id.as_ref());
                            if !dup {
                                items.push(m);
                            }
                        }
                    }
                    (Some(Value::Object(obj)), Value::Object(more)) => {
                        for (k, v) in more {
                            let k = key_ci(obj, &k);
                            obj.insert(k, v);
                        }
                    }
                    (_, v) => {
                        container.insert(name, v);
                    }
                }
            }
            (None, _) => {
                container.insert(name, value.cloned().unwrap_or(Value::Null));
            }
            (Some(sub), _) => {
                let parent = container
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !parent.is_object() {
                    *parent = Value::Object(Map::new());
                }
                let obj = parent.as_object_mut().expect("an object");
                let sub = key_ci(obj, sub);
                if kind == Kind::Remove {
                    obj.remove(&sub);
                } else {
                    obj.insert(sub, value.cloned().unwrap_or(Value::Null));
                }
            }
        },
        PatchPath::Value(vp) => {
            let items = container
                .entry(name)
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = items else {
                return Err(invalid_path(format!(
                    "{path}: not a multi-valued attribute"
                )));
            };
            let matched = items
                .iter()
                .filter(|i| element_matches(i, &vp.filter))
                .count();
            match (kind, &vp.sub_attr) {
                (Kind::Remove, None) => {
                    if matched == 0 {
                        return Err(ScimError::new(
                            400,
                            Some("noTarget"),
                            format!("{path} matches nothing"),
                        ));
                    }
                    items.retain(|i| !element_matches(i, &vp.filter));
                }
                (Kind::Remove, Some(sub)) => {
                    for i in items.iter_mut().filter(|i| element_matches(i, &vp.filter)) {
                        if let Value::Object(o) = i {
                            let k = key_ci(o, sub);
                            o.remove(&k);
                        }
                    }
                }
                (_, Some(sub)) => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    if matched == 0 {
                        // emails[type eq "work"].value on a member with no work email: add one.
                        let mut o = Map::new();
                        if let ValFilter::Attr(AttrExp::Comparison(
                            p,
                            CompareOp::Eq,
                            CompValue::Str(s),
                        )) = &vp.filter
                        {
                            o.insert(p.name.clone(), Value::String(s.clone()));
                        }
                        o.insert(sub.clone(), v);
                        items.push(Value::Object(o));
                    } else {
                        for i in items.iter_mut().filter(|i| element_matches(i, &vp.filter)) {
                            if let Value::Object(o) = i {
                                let k = key_ci(o, sub);
                                o.insert(k, v.clone());
                            }
                        }
                    }
                }
                (_, None) => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    let Value::Object(_) = v else {
                        return Err(ScimError::invalid_value(format!(
                            "{path}: the value is an object"
                        )));
                    };
                    if matched == 0 && kind == Kind::Replace {
                        return Err(ScimError::new(
                            400,
                            Some("noTarget"),
                            format!("{path} matches nothing"),
                        ));
                    }
                    items.retain(|i| !element_matches(i, &vp.filter));
                    items.push(v);
                }
            }
        }
    }
    Ok(())
}

/// Keeps what `attributes` asks for (plus `id` and `schemas`), or drops what
/// `excludedAttributes` names; names may be `name.givenName` or schema-qualified.
pub(crate) fn project(doc: &mut Value, q: &ListQuery, schemas: &[&str]) {
    let split = |s: &Option<String>| -> Vec<(Option<String>, String, Option<String>)> {
        s.as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (uri, rest) = match s.rsplit_once(':') {
                    Some((u, r)) if u.starts_with("urn:") => (Some(u.to_owned()), r),
                    _ => (None, s),
                };
                // A bare extension URN names the whole extension.
                if let Some(ext) = schemas.iter().skip(1).find(|e| e.eq_ignore_ascii_case(s)) {
                    return (Some((*ext).to_owned()), String::new(), None);
                }
                let uri =
                    uri.filter(|u| !schemas.first().is_some_and(|c| c.eq_ignore_ascii_case(u)));
                match rest.split_once('.') {
                    Some((a, b)) => (uri, a.to_owned(), Some(b.to_owned())),
                    None => (uri, rest.to_owned(), None),
                }
            })
            .collect()
    };
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let wanted = split(&q.attributes);
    if !wanted.is_empty() {
        let original = std::mem::take(obj);
        for (k, v) in original {
            let always = k == "id" || k == "schemas";
            let is_ext = schemas.iter().skip(1).any(|s| s.eq_ignore_ascii_case(&k));
            if always {
                obj.insert(k, v);
                continue;
            }
            if is_ext {
                let picked: Vec<_> = wanted
                    .iter()
                    .filter(|(u, _, _)| u.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&k)))
                    .collect();
                if picked.iter().any(|(_, n, _)| n.is_empty()) {
                    obj.insert(k, v);
                } else if !picked.is_empty() {
                    let mut inner = Map::new();
                    if let Value::Object(o) = v {
                        for (ik, iv) in o {
                            if picked.iter().any(|(_, n, _)| n.eq_ignore_ascii_case(&ik)) {
                                inner.insert(ik, iv);
                            }
                        }
                    }
                    obj.insert(k, Value::Object(inner));
                }
                continue;
            }
            let picked: Vec<_> = wanted
                .iter()
                .filter(|(u, n, _)| u.is_none() && n.eq_ignore_ascii_case(&k))
                .collect();
            if picked.is_empty() {
                continue;
            }
            if picked.iter().any(|(_, _, sub)| sub.is_none()) {
                obj.insert(k, v);
            } else {
                let subs: Vec<&str> = picked.iter().filter_map(|(_, _, s)| s.as_deref()).collect();
                let keep = |o: Map<String, Value>| -> Map<String, Value> {
                    o.into_iter()
                        .filter(|(ik, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(ik)))
                        .collect()
                };
                let v = match v {
                    Value::Object(o) => Value::Object(keep(o)),
                    Value::Array(items) => Value::Array(
                        items
                            .into_iter()
                            .map(|i| match i {
                                Value::Object(o) => Value::Object(keep(o)),
                                other => other,
                            })
                            .collect(),
                    ),
                    other => other,
                };
                obj.insert(k, v);
            }
        }
        return;
    }
    for (uri, name, sub) in split(&q.excluded_attributes) {
        if name == "id" || name == "schemas" {
            continue;
        }
        let target = match &uri {
            Some(u) => {
                let k = key_ci(obj, u);
                if name.is_empty() {
                    obj.remove(&k);
                    continue;
                }
                match obj.get_mut(&k).and_then(Value::as_object_mut) {
                    Some(o) => o,
                    None => continue,
                }
            }
            None => &mut *obj,
        };
        let k = key_ci(target, &name);
        match sub {
            None => {
                target.remove(&k);
            }
            Some(s) => {
                if let Some(Value::Object(o)) = target.get_mut(&k) {
                    let sk = key_ci(o, &s);
                    o.remove(&sk);
                }
            }
        }
    }
}

/// A weak ETag of a resource's document (without its `meta`).
pub(crate) fn etag(doc: &Value) -> String {
    use sha2::Digest;
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove("meta");
    }
    let digest = sha2::Sha256::digest(d.to_string().as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..10]))
}

/// `active` as IdPs send it: a boolean, or Okta's and Entra's `"True"` / `"False"` strings.
pub(crate) fn boolean(v: &Value, what: &str) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!("{what} is true or false"))),
    }
}

/// `412` when `If-Match` names another version than the document's (`*` matches any).
pub(crate) fn check_if_match(if_match: Option<&str>, doc: &Value) -> Result<(), ScimError> {
    match if_match {
        Some(m) if m.trim() != "*" && m.trim() != doc["meta"]["version"] => Err(ScimError::new(
            412,
            None,
            "the resource changed since that version (If-Match)",
        )),
        _ => Ok(()),
    }
}
