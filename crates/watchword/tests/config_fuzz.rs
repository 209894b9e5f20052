//! The configuration file is operator input: any text loads into a config or a clear error —
//! never a panic — and a loaded config either validates or says why. Generated TOML-shaped text
//! (proptest) plus the keys' own hostile values.

use proptest::prelude::*;
use watchword::Config;

fn load(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchword.toml");
    std::fs::write(&path, text).unwrap();
    if let Ok(config) = Config::load(Some(&path)) {
        let _ = config.validate();
        let _ = watchword::trusted_proxies(&config);
    }
}

#[test]
fn hostile_values() {
    for text in [
        "listen = \"\\u0000\"",
        "trusted_proxies = [\"10.0.0.0/33\", \"not an ip\", \"::1/129\"]",
        "trusted_proxies = \"10.0.0.0/8\"",
        "argon2_memory_kib = -1",
        "argon2_memory_kib = 99999999999999999999",
        "hash_concurrency = 0",
        "api_key_prefix = \"\"",
        "api_key_prefix = \"WW-\"",
        "mfa_keys = \"k1:!!!\"",
        "signups_per_ip_per_hour = -5",
        "[listen]\nx = 1",
        "listen = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "unknown_key = true",
        "\u{feff}listen = \"127.0.0.1:1\"",
    ] {
        load(text);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchword.toml");
    std::fs::write(&path, "trusted_proxies = [\"10.0.0.0/8\", \"not an ip\"]").unwrap();
    let config = Config::load(Some(&path)).unwrap();
    let err = watchword::trusted_proxies(&config).unwrap_err();
    assert!(err.contains("not an ip"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_toml_shaped_text(
        key in "(listen|database_url|public_url|trusted_proxies|argon2_memory_kib|hash_concurrency|api_key_prefix|mfa_keys|log_format|outbox_lease_secs|[a-z_]{1,12})",
        value in "(\"[^\"\\\\]{0,20}\"|-?[0-9]{1,22}|true|\\[\"[0-9a-f.:/]{0,20}\"\\]|[^\n]{0,10})",
    ) {
        load(&format!("{key} = {value}\n"));
    }
}
