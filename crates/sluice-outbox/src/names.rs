//! The schema and table names the SQL is written with, validated once and
//! quoted wherever they appear, so no configured name can change a query.

use crate::error::OutboxError;

/// A validated SQL identifier: 1 to 63 bytes (PostgreSQL's limit) of ASCII
/// letters, digits and `_`, not starting with a digit. Always quoted when
/// rendered, so reserved words are fine and case is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    pub fn new(name: &str) -> Result<Self, OutboxError> {
        let invalid = |reason: &str| OutboxError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > 63 {
            return Err(invalid("must be 1 to 63 bytes long"));
        }
        if name.as_bytes()[0].is_ascii_digit() {
            return Err(invalid("must not start with a digit"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid("may hold only ASCII letters, digits and _"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `"name"`: validation leaves no `"` to escape.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// The names one outbox and its inbox live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub schema: Ident,
    pub outbox: Ident,
    pub inbox: Ident,
    /// The NOTIFY channel: `<schema>_<outbox>` unless configured.
    pub channel: Ident,
}

impl Names {
    pub fn new(
        schema: &str,
        outbox: &str,
        inbox: &str,
        channel: Option<&str>,
    ) -> Result<Self, OutboxError> {
        let schema = Ident::new(schema)?;
        let outbox = Ident::new(outbox)?;
        let channel = match channel {
            Some(c) => Ident::new(c)?,
            None => Ident::new(&format!("{}_{}", schema.as_str(), outbox.as_str()))?,
        };
        Ok(Self {
            inbox: Ident::new(inbox)?,
            schema,
            outbox,
            channel,
        })
    }

    /// `"schema"."outbox"`.
    pub fn outbox_table(&self) -> String {
        format!("{}.{}", self.schema.quoted(), self.outbox.quoted())
    }

    /// `"schema"."inbox"`.
    pub fn inbox_table(&self) -> String {
        format!("{}.{}", self.schema.quoted(), self.inbox.quoted())
    }

    /// The first key of the relays' advisory locks: derived from the
    /// table's name, so that two outboxes in one database never share
    /// buckets.
    pub fn lock_space(&self) -> i32 {
        // FNV-1a: stable across releases and platforms (unlike `Hash`).
        let mut hash: u32 = 0x811c_9dc5;
        for b in self.outbox_table().bytes() {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        // The top bit clear: the second space (members) is this one + 1.
        (hash >> 2) as i32 * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated_and_quoted() {
        assert_eq!(
            Ident::new("outbox_v2").map(|i| i.quoted()).ok(),
            Some("\"outbox_v2\"".into())
        );
        assert_eq!(
            Ident::new("Order").map(|i| i.quoted()).ok(),
            Some("\"Order\"".into())
        );
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"; DROP TABLE x; --",
            "ä",
            &"x".repeat(64),
        ] {
            assert!(Ident::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_and_lock_spaces() {
        let names = Names::new("app", "outbox", "inbox", None).expect("valid");
        assert_eq!(names.outbox_table(), "\"app\".\"outbox\"");
        assert_eq!(names.channel.as_str(), "app_outbox");
        let other = Names::new("app", "outbox2", "inbox", None).expect("valid");
        assert_ne!(names.lock_space(), other.lock_space());
        assert!(names.lock_space() >= 0 && names.lock_space() % 2 == 0);
        assert_eq!(
            names.lock_space(),
            Names::new("app", "outbox", "x", None)
                .expect("valid")
                .lock_space()
        );
    }
}
