/// Milliseconds since the Unix epoch: how every instant is stored and compared.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(d.as_millis() as i64)
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Millis(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    pub fn minus_secs(self, secs: i64) -> Self {
        Millis(self.0.saturating_sub(secs.saturating_mul(1000)))
    }
}

impl Millis {
    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-23T08:16:38.123Z`.
    pub fn rfc3339(self) -> String {
        let t = ::time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH);
        t.format(&::time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(Millis((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::Millis;

    #[test]
    fn rfc3339_round_trip() {
        let m = Millis(1_795_000_000_123);
        assert_eq!(Millis::parse_rfc3339(&m.rfc3339()), Some(m));
        assert_eq!(
            Millis::parse_rfc3339("2026-11-23T00:00:00+01:00"),
            Some(Millis(1_795_388_400_000))
        );
        assert_eq!(Millis::parse_rfc3339("yesterday"), None);
    }
}
