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

    /// RFC 3339 in UTC to the second, e.g. `2026-11-23T08:16:38Z`: what a `<time datetime>` carries.
    pub fn rfc3339_secs(self) -> String {
        Millis(self.0 - self.0.rem_euclid(1000)).rfc3339()
    }

    /// The exact time for people, in UTC: `23 Nov 2026, 08:16 UTC`.
    pub fn human_utc(self) -> String {
        let t = ::time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000))
            .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH);
        let format = ::time::macros::format_description!(
            "[day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
        );
        t.format(&format).unwrap_or_default()
    }

    /// How long ago (or how far ahead) it is from `now`, in words: `just now`, `5 minutes ago`,
    /// `in 3 days`, `yesterday`; beyond a month, the date.
    pub fn relative_to(self, now: Millis) -> String {
        let secs = (now.0 - self.0) / 1000;
        let (ahead, n) = (secs < 0, secs.unsigned_abs());
        let amount = |n: u64, unit: &str| {
            let s = if n == 1 { "" } else { "s" };
            if ahead {
                format!("in {n} {unit}{s}")
            } else {
                format!("{n} {unit}{s} ago")
            }
        };
        match n {
            0..45 => "just now".to_owned(),
            45..3_600 => amount(n.div_ceil(60).max(1), "minute"),
            3_600..86_400 => amount(n / 3_600, "hour"),
            86_400..172_800 if !ahead => "yesterday".to_owned(),
            86_400..172_800 => "tomorrow".to_owned(),
            172_800..2_592_000 => amount(n / 86_400, "day"),
            _ => self
                .human_utc()
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
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

    #[test]
    fn words_for_people() {
        let t = Millis(1_795_000_000_123);
        assert_eq!(t.rfc3339_secs(), "2026-11-18T11:06:40Z");
        assert_eq!(t.human_utc(), "18 Nov 2026, 11:06 UTC");
        let ago = |secs: i64| t.relative_to(t.plus_secs(secs));
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(300), "5 minutes ago");
        assert_eq!(ago(2 * 3_600 + 5), "2 hours ago");
        assert_eq!(ago(90_000), "yesterday");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(ago(-3 * 86_400), "in 3 days");
        assert_eq!(ago(-3_600), "in 1 hour");
        assert_eq!(ago(40 * 86_400), "18 Nov 2026");
    }
}
