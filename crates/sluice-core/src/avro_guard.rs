//! A bounds check over an Avro datum before it is decoded.
//!
//! Avro's binary encoding puts a count in front of every array and map
//! block; a decoder that trusts it reserves memory for that many items before
//! reading one. A corrupt record of a few bytes can then claim billions of
//! items. This walk reads the datum as the schema describes it, allocating
//! nothing, and refuses any length or count that the bytes left cannot hold.

use apache_avro::Schema;
use apache_avro::schema::Name;

use crate::varint::VarintError;

/// Items whose type may encode in zero bytes (null, an empty record) are
/// capped at this count per datum, over all its blocks.
const MAX_ZERO_SIZE_ITEMS: usize = 1 << 16;

/// Values nested deeper than this are refused: a recursive schema (a
/// linked list, a tree) would otherwise let a record's bytes drive the walk,
/// and the decoder after it, as deep as the stack goes.
const MAX_DEPTH: usize = 64;

pub(crate) fn check(schema: &Schema, datum: &[u8]) -> Result<(), String> {
    let mut walker = Walker {
        input: datum,
        root: schema,
        depth: 0,
        zero_size_items: 0,
    };
    walker.walk(schema)
}

/// The definition of the named type `name` inside `schema`. Only references
/// (a named type used a second time) need it, so it is searched for rather
/// than indexed up front.
fn find_named<'s>(schema: &'s Schema, name: &Name) -> Option<&'s Schema> {
    let is = |n: &Name| n.name == name.name && n.namespace == name.namespace;
    match schema {
        Schema::Record(r) if is(&r.name) => Some(schema),
        Schema::Enum(e) if is(&e.name) => Some(schema),
        Schema::Fixed(f) if is(&f.name) => Some(schema),
        Schema::Record(r) => r.fields.iter().find_map(|f| find_named(&f.schema, name)),
        Schema::Array(a) => find_named(&a.items, name),
        Schema::Map(m) => find_named(&m.types, name),
        Schema::Union(u) => u.variants().iter().find_map(|v| find_named(v, name)),
        _ => None,
    }
}

struct Walker<'a, 's> {
    input: &'a [u8],
    root: &'s Schema,
    /// How deep the value being walked is nested.
    depth: usize,
    /// Zero-size items claimed so far, over all blocks.
    zero_size_items: usize,
}

impl<'s> Walker<'_, 's> {
    fn take(&mut self, n: usize, what: &str) -> Result<(), String> {
        if n > self.input.len() {
            return Err(format!("{what} needs {n} bytes, {} left", self.input.len()));
        }
        self.input = &self.input[n..];
        Ok(())
    }

    fn long(&mut self) -> Result<i64, String> {
        match crate::varint::read(&mut self.input) {
            Ok(n) => Ok(crate::varint::zigzag_decode(n)),
            Err(VarintError::Truncated) => Err("datum ends inside a number".to_owned()),
            Err(VarintError::TooLong) => Err("a number longer than 10 bytes or 64 bits".to_owned()),
        }
    }

    fn length(&mut self, what: &str) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative {what} length {n}"))
    }

    fn resolve(&self, schema: &'s Schema) -> Result<&'s Schema, String> {
        match schema {
            Schema::Ref { name } => {
                find_named(self.root, name).ok_or_else(|| format!("unknown type {name}"))
            }
            other => Ok(other),
        }
    }

    /// The fewest bytes a value of `schema` can encode to (0 past
    /// [`MAX_DEPTH`], where a record that contains itself would never end).
    fn min_size(&self, schema: &'s Schema) -> usize {
        self.min_size_at(schema, 0)
    }

    fn min_size_at(&self, schema: &'s Schema, depth: usize) -> usize {
        if depth >= MAX_DEPTH {
            return 0;
        }
        match self.resolve(schema) {
            Ok(Schema::Null) => 0,
            Ok(Schema::Float) => 4,
            Ok(Schema::Double) => 8,
            Ok(Schema::Fixed(f)) => f.size,
            Ok(Schema::Duration) => 12,
            Ok(Schema::Record(r)) => r.fields.iter().fold(0usize, |n, f| {
                n.saturating_add(self.min_size_at(&f.schema, depth + 1))
            }),
            _ => 1,
        }
    }

    fn block_count(&mut self, item_min: usize) -> Result<usize, String> {
        let raw = self.long()?;
        let count = if raw < 0 {
            // A negative count is followed by the block's size in bytes.
            self.long()?;
            raw.checked_neg().ok_or("block count overflows")?
        } else {
            raw
        };
        let count = usize::try_from(count).map_err(|_| "block count overflows".to_owned())?;
        let fits = match item_min {
            0 => {
                self.zero_size_items = self.zero_size_items.saturating_add(count);
                self.zero_size_items <= MAX_ZERO_SIZE_ITEMS
            }
            min => count
                .checked_mul(min)
                .is_some_and(|n| n <= self.input.len()),
        };
        if fits {
            Ok(count)
        } else {
            Err(format!(
                "a block claims {count} items, more than the {} bytes left can hold",
                self.input.len()
            ))
        }
    }

    fn walk(&mut self, schema: &'s Schema) -> Result<(), String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        self.depth += 1;
        let walked = self.walk_value(schema);
        self.depth -= 1;
        walked
    }

    fn walk_value(&mut self, schema: &'s Schema) -> Result<(), String> {
        match self.resolve(schema)? {
            Schema::Null => Ok(()),
            Schema::Boolean => self.take(1, "a boolean"),
            Schema::Int
            | Schema::Long
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.long().map(drop),
            Schema::Float => self.take(4, "a float"),
            Schema::Double => self.take(8, "a double"),
            Schema::Bytes | Schema::String | Schema::Uuid | Schema::BigDecimal => {
                let len = self.length("string")?;
                self.take(len, "a string")
            }
            Schema::Fixed(f) => self.take(f.size, "a fixed"),
            Schema::Duration => self.take(12, "a duration"),
            Schema::Decimal(d) => self.walk(&d.inner),
            Schema::Enum(e) => {
                let index = self.long()?;
                if usize::try_from(index).is_ok_and(|i| i < e.symbols.len()) {
                    Ok(())
                } else {
                    Err(format!("enum index {index} out of range"))
                }
            }
            Schema::Union(u) => {
                let index = self.long()?;
                let variant = usize::try_from(index)
                    .ok()
                    .and_then(|i| u.variants().get(i))
                    .ok_or_else(|| format!("union index {index} out of range"))?;
                self.walk(variant)
            }
            Schema::Array(a) => {
                let min = self.min_size(&a.items);
                loop {
                    let count = self.block_count(min)?;
                    if count == 0 {
                        return Ok(());
                    }
                    for _ in 0..count {
                        self.walk(&a.items)?;
                    }
                }
            }
            Schema::Map(m) => {
                let min = self.min_size(&m.types).saturating_add(1);
                loop {
                    let count = self.block_count(min)?;
                    if count == 0 {
                        return Ok(());
                    }
                    for _ in 0..count {
                        let len = self.length("map key")?;
                        self.take(len, "a map key")?;
                        self.walk(&m.types)?;
                    }
                }
            }
            Schema::Record(r) => r.fields.iter().try_for_each(|f| self.walk(&f.schema)),
            Schema::Ref { name } => Err(format!("unresolved type {name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Schema {
        Schema::parse_str(text).expect("valid schema")
    }

    #[test]
    fn huge_counts_are_refused_before_allocation() {
        let s = schema(r#"{"type":"array","items":"long"}"#);
        // count 2^40 (zigzag-encoded), then a single item
        let claim = [0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x02];
        let err = check(&s, &claim).expect_err("refused");
        assert!(err.contains("more than the"), "{err}");
        let nulls = schema(r#"{"type":"array","items":"null"}"#);
        assert!(check(&nulls, &[0x80, 0x80, 0x80, 0x80, 0x20, 0x00]).is_err());
    }

    #[test]
    fn numbers_cut_short_or_too_long_are_refused() {
        let long = schema(r#""long""#);
        let err = check(&long, &[0x80, 0x80]).expect_err("refused");
        assert!(err.contains("ends inside a number"), "{err}");
        let err = check(&long, &[0xff; 11]).expect_err("refused");
        assert!(err.contains("longer than 10 bytes"), "{err}");
        check(
            &long,
            &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        )
        .expect("i64::MAX");
    }

    #[test]
    fn valid_data_passes() {
        let s = schema(
            r#"{"type":"record","name":"R","fields":[
                {"name":"a","type":{"type":"array","items":"string"}},
                {"name":"m","type":{"type":"map","values":"int"}},
                {"name":"o","type":["null","string"]},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
                {"name":"d","type":"double"}]}"#,
        );
        let value = apache_avro::types::Value::Record(vec![
            (
                "a".into(),
                apache_avro::types::Value::Array(vec!["x".into(), "yz".into()]),
            ),
            (
                "m".into(),
                apache_avro::types::Value::Map([("k".to_owned(), 7i32.into())].into()),
            ),
            (
                "o".into(),
                apache_avro::types::Value::Union(1, Box::new("s".into())),
            ),
            ("e".into(), apache_avro::types::Value::Enum(1, "Y".into())),
            ("d".into(), 1.5f64.into()),
        ]);
        let datum = apache_avro::to_avro_datum(&s, value).expect("encodes");
        check(&s, &datum).expect("valid datum");
        for cut in 0..datum.len() {
            assert!(
                check(&s, &datum[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
    }

    #[test]
    fn references_to_named_types_are_followed() {
        let s = schema(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"first","type":{"type":"record","name":"P","fields":[{"name":"s","type":"string"}]}},
                {"name":"second","type":"P"}]}"#,
        );
        let p = |v: &str| apache_avro::types::Value::Record(vec![("s".into(), v.into())]);
        let value = apache_avro::types::Value::Record(vec![
            ("first".into(), p("a")),
            ("second".into(), p("bc")),
        ]);
        let datum = apache_avro::to_avro_datum(&s, value).expect("encodes");
        check(&s, &datum).expect("valid datum");
        assert!(check(&s, &datum[..datum.len() - 1]).is_err());
    }

    #[test]
    fn recursive_schemas_are_walked_to_a_bounded_depth() {
        let list = schema(
            r#"{"type":"record","name":"Node","fields":[
                {"name":"next","type":["null","Node"]}]}"#,
        );
        // Ten nodes, then the end of the list: fine.
        let mut short = vec![0x02; 10];
        short.push(0x00);
        check(&list, &short).expect("a short list");
        // A million nodes claimed by a million bytes: refused, no overflow.
        let long = vec![0x02; 1_000_000];
        let err = check(&list, &long).expect_err("refused");
        assert!(err.contains("deeper than"), "{err}");
    }

    #[test]
    fn zero_size_items_are_capped_over_all_blocks() {
        let nulls = schema(r#"{"type":"array","items":"null"}"#);
        // Blocks of 60 000 nulls each (zigzag 120 000 = 0xC0 0xA9 0x07).
        let mut datum = Vec::new();
        for _ in 0..3 {
            datum.extend([0xC0, 0xA9, 0x07]);
        }
        datum.push(0x00);
        assert!(check(&nulls, &datum).is_err());
        let one_block = [0xC0, 0xA9, 0x07, 0x00];
        check(&nulls, &one_block).expect("one block under the cap");
    }
}
