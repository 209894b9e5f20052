//! Rolling upgrades: while nodes of the previous release still serve, a migration must not drop
//! or rename what they read. From migration 0026 on, a migration that drops or renames anything
//! is refused unless it is the contract step of an earlier expand: its first line says
//! `-- contract of NNNN_name.sql`, and that earlier migration says `-- expand:` (what it added and
//! what a later release stops reading). Migrations up to 0025 came before the rule.

use std::collections::BTreeMap;

const LAST_BEFORE_THE_RULE: u32 = 25;

/// The refusal for `name` among `all` (file name → text), if any.
fn refusal(name: &str, all: &BTreeMap<String, String>) -> Option<String> {
    let number: u32 = name.get(..4)?.parse().ok()?;
    if number <= LAST_BEFORE_THE_RULE {
        return None;
    }
    let text = &all[name];
    let code: String = text
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
        .to_uppercase();
    let destructive = ["DROP ", "RENAME ", "RENAME\n"]
        .iter()
        .any(|w| code.contains(w));
    if !destructive {
        return None;
    }
    let first = text.lines().next().unwrap_or_default();
    let Some(expand) = first.strip_prefix("-- contract of ") else {
        return Some(format!(
            "{name} drops or renames: only a contract step may (first line `-- contract of NNNN_name.sql`)"
        ));
    };
    let expand = expand.trim();
    match all.get(expand) {
        Some(t) if expand < name && t.contains("-- expand:") => None,
        Some(_) => Some(format!(
            "{name} contracts {expand}, which is not an earlier expand"
        )),
        None => Some(format!("{name} contracts {expand}, which does not exist")),
    }
}

#[test]
fn migrations_only_expand_unless_they_contract_an_earlier_expand() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let all: BTreeMap<String, String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .filter(|(n, _)| n.ends_with(".sql"))
        .collect();
    assert!(
        all.len() >= LAST_BEFORE_THE_RULE as usize,
        "the migrations were read"
    );
    let refused: Vec<String> = all.keys().filter_map(|n| refusal(n, &all)).collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn the_rule_refuses_what_it_should() {
    let mut all = BTreeMap::new();
    all.insert(
        "0026_add.sql".to_owned(),
        "-- expand: sessions.device_label, read instead of user_agent from the next release\nALTER TABLE sessions ADD COLUMN device_label TEXT;".to_owned(),
    );
    all.insert(
        "0027_drop.sql".to_owned(),
        "ALTER TABLE sessions DROP COLUMN user_agent;".to_owned(),
    );
    all.insert(
        "0028_contract.sql".to_owned(),
        "-- contract of 0026_add.sql\nALTER TABLE sessions DROP COLUMN user_agent;".to_owned(),
    );
    all.insert(
        "0029_rename.sql".to_owned(),
        "-- adds nothing\nALTER TABLE outbox RENAME TO outbox_v3;".to_owned(),
    );
    all.insert(
        "0030_comment.sql".to_owned(),
        "-- we never DROP anything here\nALTER TABLE x ADD COLUMN y TEXT;".to_owned(),
    );
    all.insert(
        "0031_bad_contract.sql".to_owned(),
        "-- contract of 0027_drop.sql\nDROP TABLE x;".to_owned(),
    );
    assert!(refusal("0026_add.sql", &all).is_none());
    assert!(refusal("0027_drop.sql", &all).is_some());
    assert!(refusal("0028_contract.sql", &all).is_none());
    assert!(refusal("0029_rename.sql", &all).is_some());
    assert!(refusal("0030_comment.sql", &all).is_none());
    assert!(refusal("0031_bad_contract.sql", &all).is_some());
}
